package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer the server's goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

// TestEveryRequestIsLogged: one JSON line per request with its id, method,
// route pattern, tenant, status and latency (docs/api.md, Operations).
func TestEveryRequestIsLogged(t *testing.T) {
	var buf syncBuffer
	l := startLiveApp(t, Config{Log: slog.New(slog.NewJSONHandler(&buf, nil))})
	ten := l.onboard(t, "logged")
	tok := l.login(t, ten).AccessToken
	r := l.do(t, http.MethodPut, "/tenants/"+ten.ID+"/data/doc", tok, `{"v":1}`)
	require.Equal(t, http.StatusOK, r.status)
	miss := l.do(t, http.MethodGet, "/tenants/"+ten.ID+"/data/nothing", tok, nil)
	require.Equal(t, http.StatusNotFound, miss.status)

	find := func(id string) map[string]any {
		for _, m := range buf.lines(t) {
			if m["msg"] == "request" && m["request_id"] == id {
				return m
			}
		}
		return nil
	}
	put := find(r.header.Get("X-Request-Id"))
	require.NotNil(t, put, "the PUT was logged")
	assert.Equal(t, "PUT", put["method"])
	assert.Equal(t, "/tenants/{tenant_id}/data/{item_id}", put["route"])
	assert.Equal(t, ten.ID, put["tenant_id"])
	assert.EqualValues(t, 200, put["status"])
	assert.Contains(t, put, "duration_ms")
	get := find(miss.header.Get("X-Request-Id"))
	require.NotNil(t, get, "the 404 was logged")
	assert.EqualValues(t, 404, get["status"])
	assert.Equal(t, ten.ID, get["tenant_id"])
}
