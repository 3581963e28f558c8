package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

// failingStore answers reads with the context's error once it is canceled, as
// the real stores do, and with a server-side failure otherwise.
type failingStore struct{ events.Store }

func (failingStore) ReadTenant(ctx context.Context, _ events.TenantID, _ events.Cursor, _ events.ReadOptions) (events.Page, error) {
	if err := ctx.Err(); err != nil {
		return events.Page{}, err
	}
	return events.Page{}, errors.New("disk on fire")
}

// Load answers as for a tenant with no roster yet, so the role check reads
// the (failing) history to import one.
func (failingStore) Load(context.Context, events.TenantID, events.StreamID, int64) ([]events.Event, error) {
	return nil, events.ErrNotFound
}

// syncBuffer is a log sink safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the JSON log records written so far and forgets them.
func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "%s", line)
		out = append(out, m)
	}
	s.b.Reset()
	return out
}

// TestClientGoneIsNotAServerError: a request whose client disconnected (its
// context canceled) while the store worked is no "request failed" error in the
// log and no 500 in the metrics, while a real store failure still is both, and is
// logged once (docs/api.md, "Operations").
func TestClientGoneIsNotAServerError(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	api := &httpapi.API{
		Service: &commands.Service{Store: failingStore{}},
		Authenticate: func(*http.Request) (ident.Principal, error) {
			return ident.Principal{TenantID: "t1", UserID: "u1", Roles: []string{ident.RoleTenantAdmin}}, nil
		},
		Metrics: httpapi.NewMetrics(reg),
		Log:     slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	h := api.Handler()
	get := func(ctx context.Context) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/tenants/t1/events", nil))
		return rec.Code
	}
	statuses := func() map[string]uint64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		out := map[string]uint64{}
		for _, mf := range mfs {
			if mf.GetName() != "tenantstream_http_request_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "status" {
						out[l.GetValue()] += m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		return out
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NotEqual(t, http.StatusInternalServerError, get(ctx))
	for _, rec := range logs.records(t) {
		assert.NotEqual(t, "ERROR", rec["level"], "a client that went away is logged as an error: %v", rec)
		assert.NotEqual(t, "request failed", rec["msg"], "%v", rec)
	}
	assert.Zero(t, statuses()["500"], "a client that went away is counted as a 500")
	assert.Equal(t, uint64(1), statuses()["499"])

	// The same failure with the client still there is a logged 500, once.
	require.Equal(t, http.StatusInternalServerError, get(context.Background()))
	var failed int
	for _, rec := range logs.records(t) {
		if rec["msg"] == "request failed" {
			failed++
			assert.Equal(t, "ERROR", rec["level"])
			assert.Contains(t, rec["error"], "disk on fire")
		}
	}
	assert.Equal(t, 1, failed, "a server-side failure is logged exactly once")
	assert.Equal(t, uint64(1), statuses()["500"])
}
