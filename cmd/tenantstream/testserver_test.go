package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testServer is a real App serving HTTP on a loopback port (a liveApp) with the
// exported names the end-to-end tests use.
type testServer struct {
	t    *testing.T
	App  *App
	URL  string
	Data string
	live *liveApp
	stop func()
}

// startServer opens an App on data (a fresh temp dir when empty) and serves it on
// 127.0.0.1:0 until stop is called or the test ends.
func startServer(t *testing.T, data string, cfg Config) *testServer {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	cfg.DataDir = data
	if cfg.DeliverInterval == 0 {
		cfg.DeliverInterval = 20 * time.Millisecond
	}
	l, stop := openLiveApp(t, cfg)
	s := &testServer{t: t, App: l.App, URL: l.base, Data: data, live: l, stop: sync.OnceFunc(stop)}
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) Stop() { s.stop() }

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map and fails the test if it is not an object.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// Decode decodes the body into v.
func (r response) Decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// do sends a request; body may be nil, a string/[]byte (sent as is) or any value
// (sent as JSON). headers are name, value pairs.
func (s *testServer) do(method, path, token string, body any, headers ...string) response {
	s.t.Helper()
	r := s.live.do(s.t, method, path, token, body, headers...)
	return response{Status: r.status, Header: r.header, Body: r.body}
}

// login returns a fresh access token (and the full token response).
func (s *testServer) login(tenantName, email, password string) (string, map[string]any) {
	s.t.Helper()
	r := s.do(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": tenantName, "email": email, "password": password})
	require.Equal(s.t, http.StatusOK, r.Status, "login: %s", r.Body)
	m := r.JSON(s.t)
	tok, _ := m["access_token"].(string)
	require.NotEmpty(s.t, tok)
	return tok, m
}

// settle waits until the projections have applied every event appended so far.
func (s *testServer) settle() {
	s.t.Helper()
	require.NoError(s.t, s.App.WaitForProjections(s.t.Context()))
}

// runCLI runs the cobra root in-process with args and returns stdout, stderr and
// the error Execute returned (an exitCode for a deliberate non-zero exit).
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return stdout.String(), stderr.String(), err
}

// exitStatus is the process exit status main would use for err.
func exitStatus(err error) int { return exitStatusOf(err) }
