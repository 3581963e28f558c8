package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testServer is a real App serving HTTP on a loopback port, with the test clock on.
type testServer struct {
	t    *testing.T
	App  *App
	URL  string
	Data string
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
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.DeliverInterval == 0 {
		cfg.DeliverInterval = 20 * time.Millisecond
	}
	app, err := OpenApp(t.Context(), cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		app.Close()
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()
	s := &testServer{t: t, App: app, URL: "http://" + ln.Addr().String(), Data: data}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		serveErr := <-done
		closeErr := app.Close()
		require.NoError(t, serveErr, "Serve")
		require.NoError(t, closeErr, "Close")
	}
	t.Cleanup(s.stop)
	s.waitHealthy()
	return s
}

func (s *testServer) Stop() { s.stop() }

func (s *testServer) waitHealthy() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server at %s never became healthy: %v", s.URL, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(s.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.URL+path, rd)
	require.NoError(s.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
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
func exitStatus(err error) int {
	var exit exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return int(exit)
	}
	return 2
}
