package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildBinary builds the real tenantstream binary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tenantstream")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProcess runs `bin serve` on data with args on a free port and returns
// its base URL and the running command; the caller stops it.
func serveProcess(t *testing.T, bin, data string, args ...string) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	return serveProcessEnv(t, bin, data, nil, args...)
}

// serveProcessEnv is serveProcess with env added to the process's environment.
func serveProcessEnv(t *testing.T, bin, data string, env []string, args ...string) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "server output; stderr: %s", stderr.String())
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	m := regexp.MustCompile(`running on (http://\S+)`).FindStringSubmatch(line)
	require.NotNil(t, m, "server said %q", line)
	return m[1], cmd, stderr
}

// lockedBuffer is a bytes.Buffer the process's output goroutine and the test
// may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stopProcess sends SIGTERM and returns how long the process took to exit.
func stopProcess(t *testing.T, cmd *exec.Cmd) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "a clean exit")
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the server did not exit within 30 s of SIGTERM")
	}
	return time.Since(start)
}

type webhookDeliveries []struct {
	URL      string `json:"url"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
}

func listNotifications(t *testing.T, bin, data string) map[string]webhookDeliveries {
	t.Helper()
	out, err := exec.Command(bin, "notifications", "list", "--json", "--data", data).Output()
	require.NoError(t, err)
	var notes []struct {
		ID         string            `json:"id"`
		Deliveries webhookDeliveries `json:"deliveries"`
	}
	require.NoError(t, json.Unmarshal(out, &notes), "%s", out)
	got := map[string]webhookDeliveries{}
	for _, n := range notes {
		got[n.ID] = n.Deliveries
	}
	return got
}

// A webhook receiver that is down across a restart: SIGTERM does not wait out
// the retries, `notifications list --json` shows each delivery owed, and after
// the restart with the receiver back every notification reaches it, once in
// its deduplicated view.
func TestWebhookDeliveriesSurviveARestartWhileTheReceiverIsDown(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	seen := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		mu.Lock()
		seen[r.Header.Get("Tenantstream-Notification-Id")]++
		mu.Unlock()
	}))
	defer rcv.Close()

	bin, data := buildBinary(t), t.TempDir()
	hooks := []string{"--webhooks", rcv.URL, "--webhook-secret", "whsec-test"}
	base, cmd, _ := serveProcess(t, bin, data, hooks...)
	client := loopbackClient("")
	for _, name := range []string{"hooka", "hookb"} {
		status, _, body, err := postJSON(t, client, base+"/onboarding", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": "Sup3r-secret!"})
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, status, "%s", body)
	}
	// Both notifications reach the ledger as owed, and their first attempts fail.
	require.Eventually(t, func() bool {
		got := listNotifications(t, bin, data)
		return len(got) == 2
	}, 15*time.Second, 100*time.Millisecond)
	took := stopProcess(t, cmd)
	t.Logf("SIGTERM to exit while the receiver fails: %s", took)
	assert.Less(t, took, 5*time.Second)
	for id, ds := range listNotifications(t, bin, data) {
		require.Len(t, ds, 1, id)
		assert.Contains(t, []string{"pending", "failed"}, ds[0].Status, "%s is still owed", id)
	}

	down.Store(false)
	_, cmd, _ = serveProcess(t, bin, data, hooks...)
	require.Eventually(t, func() bool {
		for _, ds := range listNotifications(t, bin, data) {
			if len(ds) != 1 || ds[0].Status != "delivered" {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "every delivery recorded delivered")
	stopProcess(t, cmd)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, seen, 2, "both notifications reached the receiver: %v", seen)
}

// A data directory keeps its token issuer and its test clock across restarts:
// a token issued before a restart on another address still works, and a
// directory whose test clock ran ahead refuses to start on the wall clock (it
// says why) and resumes where the clock was with --test-clock.
func TestADataDirectoryKeepsItsIssuerAndTestClock(t *testing.T) {
	bin, data := buildBinary(t), t.TempDir()
	base, cmd, _ := serveProcess(t, bin, data, "--test-clock")
	client := loopbackClient("")
	creds := map[string]string{"tenant_name": "keeper", "email": "admin@keeper.test", "password": "Sup3r-secret!"}
	status, _, body, err := postJSON(t, client, base+"/onboarding", creds)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var onboarded struct {
		TenantID string `json:"tenant_id"`
	}
	require.NoError(t, json.Unmarshal(body, &onboarded))
	ahead := time.Now().UTC().AddDate(0, 2, 0).Truncate(time.Second)
	status, _, body, err = postJSON(t, client, base+"/test-clock", map[string]string{"now": ahead.Format(time.RFC3339)})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, _, body, err = postJSON(t, client, base+"/auth/login", creds)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(body, &tokens))
	stopProcess(t, cmd)

	// Without --test-clock: refused, with the reason and the way out.
	out, err := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data).CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), "--test-clock")
	assert.Contains(t, string(out), ahead.Format("2006-01-02"))

	// With it, on another address: the clock resumed, the old token works.
	base2, cmd, _ := serveProcess(t, bin, data, "--test-clock")
	require.NotEqual(t, base, base2)
	req, err := http.NewRequest(http.MethodGet, base2+"/tenants/"+onboarded.TenantID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
	res, err := client.Do(req)
	require.NoError(t, err)
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "the token issued before the restart: %s", got)
	status, _, body, err = postJSON(t, client, base2+"/test-clock", map[string]string{"now": ahead.Add(-time.Hour).Format(time.RFC3339)})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, status, "the clock resumed at %s, so an hour before it is the past: %s", ahead, body)
	stopProcess(t, cmd)
}
