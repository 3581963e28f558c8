package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
)

// apiRequests sums the api_requests usage recorded for tenant.
func apiRequests(t *testing.T, evs []events.Event, tenant string) int64 {
	t.Helper()
	var n int64
	add := func(r metering.Recorded) {
		if r.Meter == metering.MeterAPIRequests {
			q, err := strconv.ParseInt(r.Quantity, 10, 64)
			require.NoError(t, err)
			n += q
		}
	}
	for _, e := range eventsOf(evs, tenant) {
		switch e.Type {
		case metering.TypeRecorded:
			var r metering.Recorded
			require.NoError(t, json.Unmarshal(e.Data, &r))
			add(r)
		case metering.TypeReported:
			var r metering.Reported
			require.NoError(t, json.Unmarshal(e.Data, &r))
			for _, rec := range r.Records {
				add(rec)
			}
		}
	}
	return n
}

// TestAPIKeysEndToEnd drives keys through the real server: create, use within
// scope, refusals outside it, revocation and expiry, and that the secret is in
// no file of the data directory and no log line.
func TestAPIKeysEndToEnd(t *testing.T) {
	start := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	logs := &syncBuffer{}
	app := startLiveApp(t, Config{TestClock: true, StartAt: start, Grace: time.Hour, FlushInterval: time.Hour, ScheduleInterval: time.Hour, DeliverInterval: time.Hour,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	a, b := app.onboard(t, "keys-alpha"), app.onboard(t, "keys-bravo")
	tokA := app.login(t, a).AccessToken
	pa := "/tenants/" + a.ID

	var created struct {
		KeyID     string     `json:"key_id"`
		Key       string     `json:"key"`
		Name      string     `json:"name"`
		Scopes    []string   `json:"scopes"`
		CreatedAt time.Time  `json:"created_at"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	res := app.do(t, "POST", pa+"/api-keys", tokA, map[string]any{"name": "ingest", "scopes": []string{"usage:write", "data:read"}, "expires_at": start.Add(24 * time.Hour)})
	require.Equal(t, http.StatusCreated, res.status, "%s", res)
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	require.NoError(t, json.Unmarshal(res.body, &created))
	assert.Equal(t, "ingest", created.Name)
	assert.Equal(t, []string{"usage:write", "data:read"}, created.Scopes)
	require.NotNil(t, created.ExpiresAt)
	key := created.Key
	require.True(t, strings.HasPrefix(key, apikey.Prefix), key)
	writer := app.createKey(t, a.ID, tokA, "data:write", "data:read")

	app.settle(t)
	countBefore := apiRequests(t, app.allEvents(t), a.ID)

	// Within scope.
	usage := map[string]any{"events": []map[string]any{{"id": "k-1", "meter": "compute_seconds", "quantity": "3", "timestamp": start.Add(-time.Minute)}}}
	app.must(t, http.StatusAccepted, nil, "POST", pa+"/usage", key, usage)
	app.must(t, http.StatusOK, nil, "PUT", pa+"/data/by-key", writer.Key, map[string]any{"v": 1})
	app.must(t, http.StatusOK, nil, "GET", pa+"/data/by-key", key, nil)
	app.must(t, http.StatusOK, nil, "GET", pa+"/data", key, nil)
	// Any key may ask who it is, whatever its scopes.
	var me struct {
		TenantID  string            `json:"tenant_id"`
		Principal map[string]string `json:"principal"`
		Roles     []string          `json:"roles"`
		Scopes    []string          `json:"scopes"`
	}
	app.must(t, http.StatusOK, &me, "GET", "/me", key, nil)
	assert.Equal(t, a.ID, me.TenantID)
	assert.Equal(t, map[string]string{"type": "api_key", "key_id": created.KeyID, "name": "ingest"}, me.Principal)
	assert.Empty(t, me.Roles)
	assert.Equal(t, []string{"usage:write", "data:read"}, me.Scopes)

	// Outside scope, on routes keys never use, and on another tenant.
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		detail                    string
	}{
		{"write without data:write", "PUT", pa + "/data/x", key, map[string]any{"v": 2}, http.StatusForbidden, "data:write"},
		{"delete without data:write", "DELETE", pa + "/data/by-key", key, nil, http.StatusForbidden, "data:write"},
		{"billing without billing:read", "GET", "/billing/" + a.ID, key, nil, http.StatusForbidden, "billing:read"},
		{"usage without usage:write", "POST", pa + "/usage", writer.Key, usage, http.StatusForbidden, "usage:write"},
		{"keys cannot make keys", "POST", pa + "/api-keys", key, map[string]any{"name": "x", "scopes": []string{"data:read"}}, http.StatusForbidden, "API keys cannot"},
		{"keys cannot list keys", "GET", pa + "/api-keys", key, nil, http.StatusForbidden, "API keys cannot"},
		{"keys cannot add users", "POST", pa + "/users", key, map[string]any{"email": "m@x.example", "password": "Corr3ct-Horse!"}, http.StatusForbidden, "API keys cannot"},
		{"keys cannot read the event log", "GET", pa + "/events", key, nil, http.StatusForbidden, "API keys cannot"},
		{"keys cannot read the audit log", "GET", pa + "/audit-log", key, nil, http.StatusForbidden, "API keys cannot"},
		{"another tenant's data", "GET", "/tenants/" + b.ID + "/data", key, nil, http.StatusForbidden, ""},
		{"another tenant's usage", "POST", "/tenants/" + b.ID + "/usage", key, usage, http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := app.do(t, tc.method, tc.path, tc.token, tc.body)
			assert.Equal(t, tc.status, res.status, "%s", res)
			assert.Contains(t, string(res.body), tc.detail)
		})
	}

	// Malformed Authorization headers never 500.
	for _, h := range []string{"Bearer " + key[:len(key)-1], "Bearer " + key + "x", "Bearer " + strings.ToUpper(key), "Bearer " + apikey.Prefix, "Bearer tsk_live_\u00e9\u00e9", "bearer " + key, "Basic " + key, key, "Bearer  " + key + " junk", "Bearer " + strings.Repeat("tsk_live_", 2000)} {
		res := app.do(t, "GET", pa+"/data", "", nil, "Authorization", h)
		want := http.StatusUnauthorized
		if h == "bearer "+key { // the scheme is case-insensitive (RFC 9110 11.1)
			want = http.StatusOK
		}
		assert.Equal(t, want, res.status, "%q: %s", h, res)
	}

	// The list shows both keys, no secrets, and when they were used.
	var list struct {
		Keys []map[string]any `json:"api_keys"`
	}
	app.must(t, http.StatusOK, &list, "GET", pa+"/api-keys", tokA, nil)
	require.Len(t, list.Keys, 2)
	for _, k := range list.Keys {
		assert.NotContains(t, k, "key")
		assert.NotContains(t, k, "secret_hash")
		assert.NotNil(t, k["last_used_at"], "%v", k)
	}

	// Every request a key made was counted to its tenant.
	app.settle(t)
	assert.GreaterOrEqual(t, apiRequests(t, app.allEvents(t), a.ID)-countBefore, int64(4+8))

	// Revocation is at once; expiry follows the clock.
	app.must(t, http.StatusNoContent, nil, "DELETE", pa+"/api-keys/"+writer.KeyID, tokA, nil)
	res = app.do(t, "GET", pa+"/data", writer.Key, nil)
	assert.Equal(t, http.StatusUnauthorized, res.status, "%s", res)
	app.must(t, http.StatusOK, nil, "GET", pa+"/data", key, nil)
	app.must(t, http.StatusOK, nil, "POST", "/test-clock", "", map[string]any{"now": start.Add(24 * time.Hour)})
	res = app.do(t, "GET", pa+"/data", key, nil)
	assert.Equal(t, http.StatusUnauthorized, res.status, "%s", res)
	assert.Contains(t, res.header.Get("WWW-Authenticate"), `error="invalid_token"`)

	// The events name the key as the actor of what it did.
	app.settle(t)
	var byKey int
	for _, e := range eventsOf(app.allEvents(t), a.ID) {
		if e.Actor == "key:"+writer.KeyID {
			byKey++
		}
	}
	assert.Positive(t, byKey, "the key's item write records it as actor")

	// The audit log names each key by its name (the revoked one too), and
	// holds no key.
	tokA = app.login(t, a).AccessToken
	var audit struct {
		Entries []struct {
			Action string            `json:"action"`
			Actor  map[string]string `json:"actor"`
		} `json:"entries"`
	}
	res = app.do(t, "GET", pa+"/audit-log?limit=1000", tokA, nil)
	require.Equal(t, http.StatusOK, res.status, "%s", res)
	require.NoError(t, json.Unmarshal(res.body, &audit))
	actors := map[string]map[string]string{}
	for _, e := range audit.Entries {
		if e.Actor["type"] == "api_key" {
			actors[e.Action] = e.Actor
		}
	}
	assert.Equal(t, map[string]string{"type": "api_key", "id": writer.KeyID, "name": "test key"}, actors["item.put"])
	assert.Equal(t, map[string]string{"type": "api_key", "id": created.KeyID, "name": "ingest"}, actors["usage.reported"])
	for _, s := range []string{key, writer.Key, "secret_hash"} {
		assert.NotContains(t, string(res.body), s)
	}

	// The secrets are in no file of the data directory and no log line.
	secrets := []string{key, writer.Key, key[len(apikey.Prefix)+apikey.IDLen : len(key)-7], writer.Key[len(apikey.Prefix)+apikey.IDLen : len(writer.Key)-7]}
	// Every file, the SQLite WAL and its index included. The key ids are
	// stored, so finding them shows the walk read the store.
	var idSeen bool
	err := filepath.WalkDir(app.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() { // skip directories and the operator socket
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			assert.False(t, bytes.Contains(raw, []byte(s)), "%s holds a key secret", path)
		}
		idSeen = idSeen || bytes.Contains(raw, []byte(created.KeyID))
		return nil
	})
	require.NoError(t, err)
	assert.True(t, idSeen, "no file of the data directory holds the key id")
	for _, s := range secrets {
		assert.NotContains(t, logText(logs), s, "a key secret was logged")
	}
}

func logText(s *syncBuffer) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
