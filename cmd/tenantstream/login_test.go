package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loginBurstRSSBound is the most memory (peak resident set, VmHWM) the server
// may take to answer a burst of 250 concurrent logins that all need a password
// hash, with the default configuration (docs/api.md, "Login throttling"): 96 MiB
// for the rest of the server (about 64 MiB idle) plus 1.5 times the 160 MiB hash
// budget, the argon2id memory in flight and its garbage.
const loginBurstRSSBound = (96 + 240) << 20

// loopbackClient sends its requests from source address ip (any 127.0.0.0/8
// address reaches the loopback interface on Linux), so the server sees one
// client address per client, as it would for distinct machines.
func loopbackClient(ip string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// distinctLoopbackAddresses reports whether sockets can be bound to loopback
// addresses other than 127.0.0.1 (Linux: yes; macOS only with aliases).
func distinctLoopbackAddresses() bool {
	ln, err := net.Listen("tcp", "127.0.3.7:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// postJSON POSTs body as JSON to url from client.
func postJSON(t *testing.T, client *http.Client, url string, body any) (int, http.Header, []byte, error) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	res, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, out, err
}

// vmHWM is a process's peak resident set size, from /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(b)
	require.NotNil(t, m, "no VmHWM in /proc/%d/status", pid)
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	return kb << 10
}

// startServerProcess builds the real binary and runs `tenantstream serve` on a
// free loopback port, with the environment env added. It returns the base URL
// and the process, which is stopped when the test ends.
func startServerProcess(t *testing.T, env ...string) (string, *os.Process) {
	t.Helper()
	base, cmd, stderr := serveProcessEnv(t, buildBinary(t), t.TempDir(), env)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server stderr (tail): %s", tail(stderr.String(), 4000))
		}
	})
	return base, cmd.Process
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// A burst of 250 concurrent logins, every one of which needs an argon2id hash
// (unknown users, from distinct client addresses so no throttle turns them away
// first), keeps the real server's memory under loginBurstRSSBound: the hasher's
// memory budget holds 8 hashes at once, the rest wait briefly and get 503 with
// Retry-After. Without the budget, 250 x 19 MiB would be in use at once.
func TestLoginBurstMemoryIsBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's peak RSS from /proc")
	}
	base, proc := startServerProcess(t)
	client := loopbackClient("")
	status, _, body, err := postJSON(t, client, base+"/onboarding", map[string]string{"tenant_name": "burst", "email": "admin@burst.test", "password": "Sup3r-secret!"})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	before := vmHWM(t, proc.Pid)

	const burst = 250
	distinct := distinctLoopbackAddresses()
	type answer struct {
		status     int
		retryAfter string
		ctype      string
		err        error
	}
	answers := make([]answer, burst)
	start := make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	for i := range burst {
		ip := ""
		if distinct {
			ip = fmt.Sprintf("127.0.%d.%d", 1+i/200, 1+i%200)
		}
		c := loopbackClient(ip)
		wg.Go(func() {
			<-start
			st, h, _, err := postJSON(t, c, base+"/auth/login", map[string]string{"tenant_name": "burst", "email": fmt.Sprintf("user%03d@burst.test", i), "password": "Wrong-passw0rd!"})
			answers[i] = answer{status: st, err: err}
			if err == nil {
				answers[i].retryAfter, answers[i].ctype = h.Get("Retry-After"), h.Get("Content-Type")
			}
		})
	}
	close(start)
	wg.Wait()
	took := time.Since(began)
	peak := vmHWM(t, proc.Pid)

	counts := map[int]int{}
	for i, a := range answers {
		require.NoError(t, a.err, "request %d", i)
		counts[a.status]++
		switch a.status {
		case http.StatusUnauthorized:
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			assert.NotEmpty(t, a.retryAfter, "request %d: %d without Retry-After", i, a.status)
			assert.Equal(t, "application/problem+json", a.ctype)
		default:
			t.Errorf("request %d: status %d", i, a.status)
		}
	}
	t.Logf("login burst of %d (distinct client addresses: %v) in %s: statuses %v; server peak RSS %.1f MiB (%.1f MiB before the burst), bound %d MiB",
		burst, distinct, took.Round(time.Millisecond), counts, float64(peak)/(1<<20), float64(before)/(1<<20), loginBurstRSSBound>>20)
	assert.Positive(t, counts[http.StatusUnauthorized], "some logins were checked")
	assert.LessOrEqual(t, peak, int64(loginBurstRSSBound), "peak RSS over the stated bound")

	// The server is still fine: the admin logs in.
	status, _, body, err = postJSON(t, client, base+"/auth/login", map[string]string{"tenant_name": "burst", "email": "admin@burst.test", "password": "Sup3r-secret!"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, "%s", body)
}

// Over real HTTP, with the client address taken from the connection: an
// attacker who knows the victim's tenant and email, hammering from its own
// address, gets at most the pair's allowance of 40 simultaneous guesses and
// then 429s, while the victim logs in from the address it used before and from
// a new one. An attack from many addresses locks the account for new
// addresses only, briefly; the victim's known address still works.
func TestLoginHTTPVictimIsNotLockedOutByAnAttacker(t *testing.T) {
	if !distinctLoopbackAddresses() {
		t.Skip("needs distinct loopback source addresses (127.0.0.0/8)")
	}
	s := startServer(t, "", Config{TestClock: true}) // the throttle's clock stands still unless moved
	r := s.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "victim", "email": "v@victim.test", "password": "Sup3r-secret!"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	login := func(ip, password string) (int, http.Header) {
		st, h, body, err := postJSON(t, loopbackClient(ip), s.URL+"/auth/login", map[string]string{"tenant_name": "victim", "email": "v@victim.test", "password": password})
		require.NoError(t, err)
		if st == http.StatusTooManyRequests {
			require.NotEmpty(t, h.Get("Retry-After"), "%s", body)
		}
		return st, h
	}
	home, attacker := "127.0.2.1", "127.0.2.66"
	st, _ := login(home, "Sup3r-secret!")
	require.Equal(t, http.StatusOK, st, "the victim logs in from home before the attack")

	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			st, _ := login(attacker, "Wrong-passw0rd!")
			mu.Lock()
			statuses[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("40 simultaneous guesses from one address: %v", statuses)
	assert.LessOrEqual(t, statuses[http.StatusUnauthorized], 6, "at most the pair's allowance (5 free + 1) was checked")
	assert.Equal(t, 40, statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests])
	st, _ = login(attacker, "Sup3r-secret!")
	assert.Equal(t, http.StatusTooManyRequests, st, "even the right password waits at the attacker's address")

	st, _ = login(home, "Sup3r-secret!")
	assert.Equal(t, http.StatusOK, st, "the victim's known address")
	st, _ = login("127.0.2.2", "Sup3r-secret!")
	assert.Equal(t, http.StatusOK, st, "a new address: one attacker address does not reach the account lock")

	// Many attacker addresses, 3 guesses each, trip the soft account lock.
	for i := range 10 {
		for range 3 {
			login(fmt.Sprintf("127.0.4.%d", i+1), "Wrong-passw0rd!")
		}
	}
	st, h := login("127.0.2.3", "Sup3r-secret!")
	require.Equal(t, http.StatusTooManyRequests, st, "a never-used address waits out the account lock")
	wait, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err)
	assert.LessOrEqual(t, wait, 300, "the account lock is capped at 5 minutes")
	st, _ = login(home, "Sup3r-secret!")
	assert.Equal(t, http.StatusOK, st, "the victim's known address is exempt from the account lock")
	st, _ = login("127.0.2.2", "Sup3r-secret!")
	assert.Equal(t, http.StatusOK, st, "so is the address it logged in from during the attack")

	require.NoError(t, s.App.testClock.Set(s.App.testClock.Now().Add(time.Duration(wait)*time.Second)))
	st, _ = login("127.0.2.3", "Sup3r-secret!")
	assert.Equal(t, http.StatusOK, st, "after the wait the new address gets in")
}
