package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/projections"
)

// cliRun is one run of the real binary.
type cliRun struct {
	stdout, stderr string
	code           int
}

func runBinary(t *testing.T, bin string, args ...string) cliRun {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", args, err)
	}
	return cliRun{stdout.String(), stderr.String(), code}
}

// The operator commands run against a live `tenantstream serve` on the same
// data directory, through its operator socket, with the output and exit status
// they have against a stopped server (docs/ARCHITECTURE.md, "Operations"); the
// socket goes with a clean shutdown, and one left by a crash blocks neither the
// CLI nor the next start.
func TestOperatorCommandsOnALiveServer(t *testing.T) {
	bin, data := buildBinary(t), t.TempDir()
	base, cmd, serverLog := serveProcess(t, bin, data, "--test-clock")
	sock := filepath.Join(data, operatorSocket)
	client := loopbackClient("")
	status, _, body, err := postJSON(t, client, base+"/onboarding", map[string]string{"tenant_name": "livecorp", "email": "admin@livecorp.test", "password": "Sup3r-secret!"})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var onboarded struct {
		TenantID string `json:"tenant_id"`
	}
	require.NoError(t, json.Unmarshal(body, &onboarded))
	tenant := onboarded.TenantID

	// Into the next month, inside the server's one-hour grace, so its scheduler
	// leaves the period to the CLI (which closes it with --grace 1m).
	now := time.Now().UTC()
	period := now.Format("2006-01")
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 30, 0, 0, time.UTC)
	status, _, body, err = postJSON(t, client, base+"/test-clock", map[string]string{"now": next.Format(time.RFC3339)})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "%s", body)

	closeArgs := []string{"billing", "close", "--period", period, "--grace", "1m", "--data", data}
	first := runBinary(t, bin, closeArgs...)
	require.Equal(t, 0, first.code, "%+v", first)
	assert.Regexp(t, `^`+tenant+` `+period+`: issued invoice 1 \(inv_\S+\) \S+ USD\n$`, first.stdout)
	again := runBinary(t, bin, closeArgs...)
	require.Equal(t, 0, again.code, "%+v", again)
	liveAlready := tenant + " " + period + ": already closed (invoice 1); nothing to do\n"
	assert.Equal(t, liveAlready, again.stdout)
	assert.Empty(t, again.stderr)
	assert.Contains(t, serverLog.String(), `"msg":"operator command","path":"/v1/billing/close"`, "the server ran it")

	audit := runBinary(t, bin, "billing", "audit", "--tenant", tenant, "--period", period, "--json", "--data", data)
	require.Equal(t, 0, audit.code, "%+v", audit)
	var rep struct {
		Match  bool   `json:"match"`
		Number int    `json:"number"`
		Tenant string `json:"tenant_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(audit.stdout), &rep), audit.stdout)
	assert.True(t, rep.Match)
	assert.Equal(t, 1, rep.Number)
	assert.Equal(t, tenant, rep.Tenant)

	rebuild := runBinary(t, bin, "projections", "rebuild", "invoices", "--data", data)
	require.Equal(t, 0, rebuild.code, "%+v", rebuild)
	assert.Equal(t, "rebuilt invoices\n", rebuild.stdout)
	assert.Contains(t, rebuild.stderr, "invoices (all tenants): switched", "progress lines come back")
	all := runBinary(t, bin, "projections", "rebuild", "--all", "--data", data)
	require.Equal(t, 0, all.code, "%+v", all)
	assert.Equal(t, len(projections.Registered()), strings.Count(all.stdout, "rebuilt "), "one line per projection: %s", all.stdout)
	unknown := runBinary(t, bin, "projections", "rebuild", "nosuch", "--data", data)
	assert.Equal(t, 1, unknown.code)
	assert.Contains(t, unknown.stderr, "tenantstream: rebuild nosuch:")

	parked := runBinary(t, bin, "projections", "parked", "invoices", "--data", data)
	require.Equal(t, 0, parked.code, "%+v", parked)
	var ps []any
	require.NoError(t, json.Unmarshal([]byte(parked.stdout), &ps), parked.stdout)
	assert.Empty(t, ps)

	// The server still serves the invoice the CLI closed.
	require.Eventually(t, func() bool {
		return strings.Contains(runBinary(t, bin, "notifications", "list", "--json", "--data", data).stdout, "invoice.issued")
	}, 10*time.Second, 100*time.Millisecond, "the server's projections and dispatcher saw the invoice")

	// A clean shutdown removes the socket; against the stopped server the same
	// commands say the same.
	stopProcess(t, cmd)
	_, err = os.Lstat(sock)
	assert.True(t, os.IsNotExist(err), "the socket is gone after shutdown: %v", err)
	stopped := runBinary(t, bin, closeArgs...)
	require.Equal(t, 0, stopped.code, "%+v", stopped)
	assert.Equal(t, liveAlready, stopped.stdout)
	assert.Equal(t, unknown, runBinary(t, bin, "projections", "rebuild", "nosuch", "--data", data))
	assert.Equal(t, "rebuilt invoices\n", runBinary(t, bin, "projections", "rebuild", "invoices", "--data", data).stdout)

	// A crash leaves the socket behind: the CLI falls back to the directory,
	// and the next server replaces it.
	_, cmd, _ = serveProcess(t, bin, data, "--test-clock")
	require.Eventually(t, func() bool { _, err := os.Lstat(sock); return err == nil }, 10*time.Second, 20*time.Millisecond, "the server listens")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	_, err = os.Lstat(sock)
	require.NoError(t, err, "a killed server leaves its socket")
	crashed := runBinary(t, bin, closeArgs...)
	require.Equal(t, 0, crashed.code, "%+v", crashed)
	assert.Equal(t, liveAlready, crashed.stdout)
	_, cmd, serverLog = serveProcess(t, bin, data, "--test-clock")
	live := runBinary(t, bin, closeArgs...)
	require.Equal(t, 0, live.code, "%+v", live)
	assert.Equal(t, liveAlready, live.stdout)
	assert.Contains(t, serverLog.String(), `"msg":"operator command"`, "the restarted server answers on a fresh socket")
	stopProcess(t, cmd)
}
