package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

const (
	onboardCrashDirEnv = "TENANTSTREAM_ONBOARD_CRASH_DIR"
	onboardCrashKeyEnv = "TENANTSTREAM_ONBOARD_CRASH_KEY"

	victimName     = "victim-co"
	victimEmail    = "admin@victim.test"
	victimPassword = "V1ctim-secret!"
)

// killAfterReservation kills its own process (SIGKILL: nothing runs after it)
// the moment the name reservation's append has returned, after printing the
// reserved tenant id for the parent.
type killAfterReservation struct{ events.Store }

func (s killAfterReservation) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	res, err := s.Store.Append(ctx, req)
	if err == nil && req.StreamType == tenant.NameStreamType {
		var r tenant.NameReserved
		if json.Unmarshal(res.Events[0].Data, &r) == nil {
			_, _ = os.Stdout.WriteString("RESERVED " + r.TenantID + "\n")
		}
		self, _ := os.FindProcess(os.Getpid())
		_ = self.Kill()
		select {} // the kill is asynchronous; never return to the onboarding
	}
	return res, err
}

// TestOnboardCrashChild is the child side of TestCrashBetweenNameReservationAndOnboarding:
// it only runs when re-executed with onboardCrashDirEnv set, opens that data
// directory as serve does and onboards the victim through a store that kills the
// process right after the name reservation is stored.
func TestOnboardCrashChild(t *testing.T) {
	dir := os.Getenv(onboardCrashDirEnv)
	if dir == "" {
		return // not a child: nothing to do
	}
	ctx := context.Background()
	app, err := OpenApp(ctx, Config{DataDir: dir, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	app.Service.Store = killAfterReservation{app.Service.Store}
	_, err = app.Service.Onboard(ctx, commands.Meta{IdempotencyKey: os.Getenv(onboardCrashKeyEnv)},
		commands.Onboard{TenantName: victimName, Email: victimEmail, Password: victimPassword}, identity.ValidatePassword)
	fmt.Fprintln(os.Stderr, "onboarding returned instead of crashing:", err)
	os.Exit(4)
}

// crashOnboarding runs the victim's onboarding in a child process on dir until it
// is killed right after its name reservation, and returns the reserved tenant id.
func crashOnboarding(t *testing.T, dir, key string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOnboardCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), onboardCrashDirEnv+"="+dir, onboardCrashKeyEnv+"="+key)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var tenantID string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "RESERVED "); ok {
			tenantID = id
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the child must die, not exit: %v\n%s", err, stderr.String())
	require.False(t, exit.Exited(), "the child was killed by a signal, not exited (%s):\n%s", exit, stderr.String())
	require.NotEmpty(t, tenantID, "the child reserved the name before it died:\n%s", stderr.String())
	return tenantID
}

// A crash between the name reservation and the rest of the onboarding, in a real
// process on a real data directory, followed by an attacker who knows the
// victim's tenant name and email and brings their own password: the attacker
// gets 409 with or without an Idempotency-Key and cannot log in; the victim's
// retry, with its own password or with its Idempotency-Key, completes the tenant
// the reservation was made for, and the victim logs in to it.
func TestCrashBetweenNameReservationAndOnboarding(t *testing.T) {
	t.Parallel()
	const victimKey = "victim-onboarding-1"
	attacker := map[string]string{"tenant_name": victimName, "email": victimEmail, "password": "Att4cker-own-pass!"}
	victim := map[string]string{"tenant_name": victimName, "email": victimEmail, "password": victimPassword}
	for _, retry := range []struct {
		name    string
		headers []string
	}{
		{name: "by password"},
		{name: "by idempotency key", headers: []string{"Idempotency-Key", victimKey}},
	} {
		t.Run(retry.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			reserved := crashOnboarding(t, dir, victimKey)

			srv := startServer(t, dir, Config{})
			p := requireProblem(t, srv.do(http.MethodPost, "/onboarding", "", attacker), http.StatusConflict)
			assert.Equal(t, "conflict", p["code"])
			requireProblem(t, srv.do(http.MethodPost, "/onboarding", "", attacker, "Idempotency-Key", "attacker-key"), http.StatusConflict)
			requireProblem(t, srv.do(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": victimName, "email": victimEmail, "password": attacker["password"]}), http.StatusUnauthorized)

			r := srv.do(http.MethodPost, "/onboarding", "", victim, retry.headers...)
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			var out commands.Onboarded
			r.Decode(t, &out)
			assert.Equal(t, reserved, out.TenantID, "the retry completes the reserved tenant")

			tok, _ := srv.login(victimName, victimEmail, victimPassword)
			prof := srv.do(http.MethodGet, "/tenants/"+reserved, tok, nil)
			require.Equal(t, http.StatusOK, prof.Status, "%s", prof.Body)
			assert.Equal(t, victimName, prof.JSON(t)["tenant_name"])
			requireProblem(t, srv.do(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": victimName, "email": victimEmail, "password": attacker["password"]}), http.StatusUnauthorized)
			requireProblem(t, srv.do(http.MethodPost, "/onboarding", "", attacker), http.StatusConflict)
		})
	}
}
