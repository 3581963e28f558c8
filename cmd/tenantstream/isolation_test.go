package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// liveApp is a real App serving on a loopback port.
type liveApp struct {
	*App
	base   string
	dir    string
	client *http.Client
}

// startLiveApp opens an App in a fresh data directory and serves it on 127.0.0.1:0
// until the test ends.
func startLiveApp(tb testing.TB, cfg Config) *liveApp {
	tb.Helper()
	l, stop := openLiveApp(tb, cfg)
	tb.Cleanup(stop)
	return l
}

// openLiveApp serves an App (in a fresh data directory unless cfg names one)
// until stop is called.
func openLiveApp(tb testing.TB, cfg Config) (*liveApp, func()) {
	tb.Helper()
	if cfg.DataDir == "" {
		// The owner's only, as the server creates a directory: t.TempDir's
		// 0755 would leave the operator key unused (docs/lifecycle.md).
		cfg.DataDir = tb.TempDir()
		require.NoError(tb, os.Chmod(cfg.DataDir, 0o700))
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := OpenApp(ctx, cfg)
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()
	stop := func() {
		cancel()
		assert.NoError(tb, <-done)
		assert.NoError(tb, app.Close())
	}
	l := &liveApp{App: app, base: "http://" + ln.Addr().String(), dir: cfg.DataDir, client: &http.Client{Timeout: 30 * time.Second}}
	require.Eventually(tb, func() bool {
		res, err := l.client.Get(l.base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 5*time.Second, 5*time.Millisecond)
	return l, stop
}

type liveResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r liveResponse) String() string {
	return fmt.Sprintf("%d %s", r.status, r.body)
}

// do sends one request; headers are name/value pairs, an empty Authorization is not sent.
func (l *liveApp) do(tb testing.TB, method, path, token string, body any, headers ...string) liveResponse {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(tb, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, l.base+path, rd)
	require.NoError(tb, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := l.client.Do(req)
	require.NoError(tb, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(tb, err)
	return liveResponse{status: res.StatusCode, header: res.Header, body: raw}
}

// must sends a request that has to answer want and decodes its body into out (if not nil).
func (l *liveApp) must(tb testing.TB, want int, out any, method, path, token string, body any, headers ...string) {
	tb.Helper()
	res := l.do(tb, method, path, token, body, headers...)
	require.Equal(tb, want, res.status, "%s %s: %s", method, path, res)
	if out != nil {
		require.NoError(tb, json.Unmarshal(res.body, out), "%s %s", method, path)
	}
}

type liveTenant struct {
	ID, Name, Email, Password string
}

type liveTokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

func (l *liveApp) onboard(tb testing.TB, name string) liveTenant {
	tb.Helper()
	t := liveTenant{Name: name, Email: "admin@" + name + ".example", Password: "Corr3ct-Horse!"}
	var out struct {
		TenantID string `json:"tenant_id"`
	}
	l.must(tb, http.StatusCreated, &out, "POST", "/onboarding", "", map[string]string{"tenant_name": name, "email": t.Email, "password": t.Password})
	require.NotEmpty(tb, out.TenantID)
	t.ID = out.TenantID
	return t
}

func (l *liveApp) login(tb testing.TB, t liveTenant) liveTokens {
	tb.Helper()
	var out liveTokens
	l.must(tb, http.StatusOK, &out, "POST", "/auth/login", "", map[string]string{"tenant_name": t.Name, "email": t.Email, "password": t.Password})
	require.NotEmpty(tb, out.AccessToken)
	return out
}

// settle flushes the meter and waits for the projections, so the store and read
// models hold everything the requests so far caused.
func (l *liveApp) settle(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	require.NoError(tb, l.Meter.Flush(ctx))
	require.NoError(tb, l.WaitForProjections(ctx))
}

// allEvents reads the whole store.
func (l *liveApp) allEvents(tb testing.TB) []events.Event {
	tb.Helper()
	var out []events.Event
	var cur events.Cursor
	for {
		page, err := l.Store.ReadAll(context.Background(), cur, events.ReadOptions{Limit: 1000})
		require.NoError(tb, err)
		out = append(out, page.Events...)
		cur = page.Next
		if !page.More || len(page.Events) == 0 {
			return out
		}
	}
}

func eventsOf(evs []events.Event, tenant string) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if string(e.TenantID) == tenant {
			out = append(out, e)
		}
	}
	return out
}

// jwtPart decodes one base64url part of a JWT.
func jwtPart(tb testing.TB, tok string, i int) map[string]any {
	tb.Helper()
	parts := strings.Split(tok, ".")
	require.Len(tb, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(tb, err)
	var m map[string]any
	require.NoError(tb, json.Unmarshal(raw, &m))
	return m
}

func b64JSON(tb testing.TB, v any) string {
	tb.Helper()
	raw, err := json.Marshal(v)
	require.NoError(tb, err)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func signJWT(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	tb.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	require.NoError(tb, err)
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	require.NoError(tb, err)
	return tok
}

func withClaim(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

// isoSetup is the state the isolation suite attacks: tenant A with items, usage, an
// invoice and an event-log cursor, tenant B with a valid token, and tokens that
// must all be refused.
type isoSetup struct {
	app            *liveApp
	a, b           liveTenant
	tokA, tokB     liveTokens
	expiredA       string // A's access token from before the test clock moved
	invoiceA       string
	invoiceB       string
	cursorA        string // an event-log cursor from A's log
	marker         string // only in A's item data
	itemA, usageID string
	keyA           createdKey // A's API key, every scope
	revokedKeyA    string     // an API key of A, revoked
	keyB           string     // B's API key, every scope
	memberA        string     // the user id of a member of A
	invitationA    string     // a pending invitation of A
}

// createdKey is the answer of POST /tenants/{tenant_id}/api-keys.
type createdKey struct {
	KeyID string `json:"key_id"`
	Key   string `json:"key"`
}

var allScopes = []string{"usage:write", "data:read", "data:write", "billing:read"}

func (l *liveApp) createKey(tb testing.TB, tenant, token string, scopes ...string) createdKey {
	tb.Helper()
	var k createdKey
	l.must(tb, http.StatusCreated, &k, "POST", "/tenants/"+tenant+"/api-keys", token, map[string]any{"name": "test key", "scopes": scopes})
	require.NotEmpty(tb, k.Key)
	return k
}

const isoMarker = "only-tenant-a-may-read-this"

func newIsoSetup(t *testing.T) *isoSetup {
	t.Helper()
	start := time.Date(2026, 1, 20, 10, 0, 0, 0, time.UTC)
	app := startLiveApp(t, Config{TestClock: true, StartAt: start, Grace: time.Hour, FlushInterval: time.Hour, ScheduleInterval: time.Hour, DeliverInterval: time.Hour})
	s := &isoSetup{app: app, marker: isoMarker, itemA: "doc-1", usageID: "use-a-1"}
	s.a = app.onboard(t, "iso-alpha")
	s.b = app.onboard(t, "iso-bravo")
	require.NotEqual(t, s.a.ID, s.b.ID)
	old := app.login(t, s.a)
	s.expiredA = old.AccessToken
	for i, id := range []string{"doc-1", "doc-2", "doc-3"} {
		app.must(t, http.StatusOK, nil, "PUT", "/tenants/"+s.a.ID+"/data/"+id, old.AccessToken, map[string]any{"secret": isoMarker, "n": i})
	}
	usage := map[string]any{"events": []map[string]any{{"id": s.usageID, "meter": "compute_seconds", "quantity": "12.5", "timestamp": start.Add(-time.Hour)}}}
	app.must(t, http.StatusAccepted, nil, "POST", "/tenants/"+s.a.ID+"/usage", old.AccessToken, usage)
	b0 := app.login(t, s.b)
	app.must(t, http.StatusOK, nil, "PUT", "/tenants/"+s.b.ID+"/data/b-doc", b0.AccessToken, map[string]any{"owner": "b"})

	// A holds a credit whose reason is the marker: its credits and its invoice's
	// credit line must never reach B.
	_, err := app.Billing.GrantCredit(context.Background(), operatorMeta(), s.a.ID, commands.CreditGrantRequest{Amount: "1.00", Kind: "promotional", Reason: isoMarker})
	require.NoError(t, err)

	// Close January: both tenants get an invoice, and A's old token expires.
	app.must(t, http.StatusOK, nil, "POST", "/test-clock", "", map[string]any{"now": time.Date(2026, 2, 1, 2, 0, 0, 0, time.UTC)})
	s.tokA, s.tokB = app.login(t, s.a), app.login(t, s.b)
	var invs struct {
		Invoices []struct {
			ID string `json:"invoice_id"`
		} `json:"invoices"`
	}
	app.must(t, http.StatusOK, &invs, "GET", "/billing/"+s.a.ID+"/invoices", s.tokA.AccessToken, nil)
	require.Len(t, invs.Invoices, 1, "closing January issues A's invoice")
	s.invoiceA = invs.Invoices[0].ID
	app.must(t, http.StatusOK, &invs, "GET", "/billing/"+s.b.ID+"/invoices", s.tokB.AccessToken, nil)
	require.Len(t, invs.Invoices, 1, "closing January issues B's invoice")
	s.invoiceB = invs.Invoices[0].ID
	require.NotEqual(t, s.invoiceA, s.invoiceB)
	var log struct {
		Next string `json:"next"`
	}
	app.must(t, http.StatusOK, &log, "GET", "/tenants/"+s.a.ID+"/events?limit=2", s.tokA.AccessToken, nil)
	require.NotEmpty(t, log.Next)
	s.cursorA = log.Next
	s.keyA = app.createKey(t, s.a.ID, s.tokA.AccessToken, allScopes...)
	revoked := app.createKey(t, s.a.ID, s.tokA.AccessToken, allScopes...)
	app.must(t, http.StatusNoContent, nil, "DELETE", "/tenants/"+s.a.ID+"/api-keys/"+revoked.KeyID, s.tokA.AccessToken, nil)
	s.revokedKeyA = revoked.Key
	s.keyB = app.createKey(t, s.b.ID, s.tokB.AccessToken, allScopes...).Key
	var memberA struct {
		UserID string `json:"user_id"`
	}
	app.must(t, http.StatusCreated, &memberA, "POST", "/tenants/"+s.a.ID+"/users", s.tokA.AccessToken, map[string]any{"email": "member@a.example", "password": "Corr3ct-Horse!"})
	s.memberA = memberA.UserID
	var inv struct {
		InvitationID string `json:"invitation_id"`
	}
	app.must(t, http.StatusCreated, &inv, "POST", "/tenants/"+s.a.ID+"/invitations", s.tokA.AccessToken, map[string]any{"email": "invited@a.example"})
	s.invitationA = inv.InvitationID
	app.settle(t)
	return s
}

// isoAttack is one request B makes against A.
type isoAttack struct {
	method, path string
	body         any
	headers      []string
	// self marks a route without a tenant in its path (GET /me): it answers
	// for the caller, so B's request may succeed, but only about B.
	self bool
}

// tenantOverride are the headers that try to name A as the tenant.
func (s *isoSetup) tenantOverride() []string {
	return []string{"X-Tenant-Id", s.a.ID, "X-Tenant", s.a.ID, "Tenant-Id", s.a.ID, "X-Custom-Tenant-Id", s.a.ID, "X-Amzn-Tenant-Id", s.a.ID}
}

// crossTenant lists, per authenticated route pattern, requests with B's token that
// name A's tenant in the path and A's resources.
func (s *isoSetup) crossTenant() map[string][]isoAttack {
	a := "/tenants/" + s.a.ID
	bodyNamingA := map[string]any{"tenant_id": s.a.ID, "custom:tenant_id": s.a.ID, "evil": true}
	usage := map[string]any{"events": []map[string]any{{"id": s.usageID, "meter": "compute_seconds", "quantity": "1", "timestamp": time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC)}}}
	m := map[string][]isoAttack{
		"GET /me": {
			{method: "GET", path: "/me", headers: s.tenantOverride(), self: true},
			{method: "GET", path: "/me?tenant_id=" + s.a.ID, self: true},
			{method: "GET", path: "/me", body: bodyNamingA, headers: s.tenantOverride(), self: true},
		},
		"GET /tenants/{tenant_id}": {{method: "GET", path: a}, {method: "GET", path: a, headers: s.tenantOverride()}},
		"PUT /tenants/{tenant_id}/plan": {
			{method: "PUT", path: a + "/plan", body: map[string]any{"plan": "pro"}},
			{method: "PUT", path: a + "/plan", body: map[string]any{"plan": "pro"}, headers: append(s.tenantOverride(), "Idempotency-Key", "plan-1")},
		},
		"POST /tenants/{tenant_id}/users": {{method: "POST", path: a + "/users", body: map[string]any{"email": "mole@b.example", "password": "Corr3ct-Horse!", "role": "tenant_admin"}}},
		"POST /tenants/{tenant_id}/api-keys": {
			{method: "POST", path: a + "/api-keys", body: map[string]any{"name": "mole", "scopes": allScopes}},
			{method: "POST", path: a + "/api-keys", body: map[string]any{"name": "mole", "scopes": allScopes}, headers: append(s.tenantOverride(), "Idempotency-Key", "key-1")},
		},
		"GET /tenants/{tenant_id}/users": {{method: "GET", path: a + "/users"}, {method: "GET", path: a + "/users?limit=1", headers: s.tenantOverride()}},
		"POST /tenants/{tenant_id}/invitations": {
			{method: "POST", path: a + "/invitations", body: map[string]any{"email": "mole@b.example", "roles": []string{"tenant_admin"}}},
			{method: "POST", path: a + "/invitations", body: map[string]any{"email": "mole2@b.example"}, headers: append(s.tenantOverride(), "Idempotency-Key", "inv-1")},
		},
		"GET /tenants/{tenant_id}/invitations":                    {{method: "GET", path: a + "/invitations"}, {method: "GET", path: a + "/invitations?limit=1", headers: s.tenantOverride()}},
		"DELETE /tenants/{tenant_id}/invitations/{invitation_id}": {{method: "DELETE", path: a + "/invitations/" + s.invitationA}, {method: "DELETE", path: a + "/invitations/" + s.invitationA, headers: s.tenantOverride()}},
		"PATCH /tenants/{tenant_id}/users/{user_id}": {
			{method: "PATCH", path: a + "/users/" + s.memberA, body: map[string]any{"roles": []string{"tenant_admin"}}},
			{method: "PATCH", path: a + "/users/" + s.memberA, body: map[string]any{"roles": []string{"tenant_admin"}}, headers: s.tenantOverride()},
		},
		"DELETE /tenants/{tenant_id}/users/{user_id}":   {{method: "DELETE", path: a + "/users/" + s.memberA}, {method: "DELETE", path: a + "/users/" + s.memberA, headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/api-keys":             {{method: "GET", path: a + "/api-keys"}, {method: "GET", path: a + "/api-keys", headers: s.tenantOverride()}},
		"DELETE /tenants/{tenant_id}/api-keys/{key_id}": {{method: "DELETE", path: a + "/api-keys/" + s.keyA.KeyID}},
		"GET /tenants/{tenant_id}/events": {
			{method: "GET", path: a + "/events"},
			{method: "GET", path: a + "/events?after=" + s.cursorA, headers: s.tenantOverride()},
		},
		"GET /tenants/{tenant_id}/audit-log": {
			{method: "GET", path: a + "/audit-log"},
			{method: "GET", path: a + "/audit-log?after=" + s.cursorA + "&limit=1000", headers: s.tenantOverride()},
		},
		"GET /tenants/{tenant_id}/data": {{method: "GET", path: a + "/data"}, {method: "GET", path: a + "/data?cursor=doc-1&limit=1"}},
		"PUT /tenants/{tenant_id}/data/{item_id}": {
			{method: "PUT", path: a + "/data/" + s.itemA, body: bodyNamingA},
			{method: "PUT", path: a + "/data/" + s.itemA, body: bodyNamingA, headers: []string{"If-Match", `"1"`}},
			{method: "PUT", path: a + "/data/brand-new", body: bodyNamingA, headers: append(s.tenantOverride(), "Idempotency-Key", "put-1")},
		},
		"GET /tenants/{tenant_id}/data/{item_id}":    {{method: "GET", path: a + "/data/" + s.itemA}, {method: "GET", path: a + "/data/" + s.itemA, headers: s.tenantOverride()}},
		"DELETE /tenants/{tenant_id}/data/{item_id}": {{method: "DELETE", path: a + "/data/" + s.itemA}, {method: "DELETE", path: a + "/data/doc-2", headers: []string{"If-Match", `"1"`}}},
		"POST /tenants/{tenant_id}/usage":            {{method: "POST", path: a + "/usage", body: usage}, {method: "POST", path: a + "/usage", body: usage, headers: s.tenantOverride()}},
		"GET /billing/{tenant_id}":                   {{method: "GET", path: "/billing/" + s.a.ID}},
		"GET /tenants/{tenant_id}/entitlements":      {{method: "GET", path: a + "/entitlements"}, {method: "GET", path: a + "/entitlements", headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/entitlements/{feature}": {
			{method: "GET", path: a + "/entitlements/item_writes"},
			{method: "GET", path: a + "/entitlements/seats", headers: s.tenantOverride()},
		},
		"GET /tenants/{tenant_id}/alerts": {{method: "GET", path: a + "/alerts"}, {method: "GET", path: a + "/alerts", headers: s.tenantOverride()}},
		"PUT /tenants/{tenant_id}/alerts": {
			{method: "PUT", path: a + "/alerts", body: map[string]any{"thresholds": []any{}, "spend_cap": "0"}},
			{method: "PUT", path: a + "/alerts", body: map[string]any{"thresholds": []any{map[string]any{"subtotal": "1.00"}}}, headers: append(s.tenantOverride(), "Idempotency-Key", "alerts-1")},
		},
		"GET /billing/{tenant_id}/invoices": {{method: "GET", path: "/billing/" + s.a.ID + "/invoices"}},
		"GET /billing/{tenant_id}/credits":  {{method: "GET", path: "/billing/" + s.a.ID + "/credits"}, {method: "GET", path: "/billing/" + s.a.ID + "/credits", headers: s.tenantOverride()}},
		"GET /billing/{tenant_id}/invoices/{invoice_id}": {
			{method: "GET", path: "/billing/" + s.a.ID + "/invoices/" + s.invoiceA},
			{method: "GET", path: "/billing/" + s.a.ID + "/invoices/" + s.invoiceB},
		},
	}
	for p, at := range s.adminAttacks(s.a.ID) {
		m[p] = at
	}
	return m
}

// adminAttacks lists, per /admin/ route, requests on tenant id's resources:
// every one must be refused to any tenant principal and any API key, whoever's
// tenant it names (docs/lifecycle.md).
func (s *isoSetup) adminAttacks(id string) map[string][]isoAttack {
	a := "/admin/tenants/" + id
	reason := map[string]any{"reason": "mole"}
	return map[string][]isoAttack{
		"GET /admin/tenants":                         {{method: "GET", path: "/admin/tenants"}, {method: "GET", path: "/admin/tenants?status=active&limit=500", headers: s.tenantOverride()}},
		"GET /admin/tenants/{tenant_id}":             {{method: "GET", path: a}},
		"GET /admin/tenants/{tenant_id}/usage":       {{method: "GET", path: a + "/usage"}},
		"GET /admin/tenants/{tenant_id}/invoices":    {{method: "GET", path: a + "/invoices"}},
		"GET /admin/tenants/{tenant_id}/audit-log":   {{method: "GET", path: a + "/audit-log?limit=1000"}},
		"POST /admin/tenants/{tenant_id}/suspend":    {{method: "POST", path: a + "/suspend", body: reason}, {method: "POST", path: a + "/suspend", body: reason, headers: []string{"Idempotency-Key", "susp-1"}}},
		"POST /admin/tenants/{tenant_id}/reactivate": {{method: "POST", path: a + "/reactivate", body: reason}},
		"POST /admin/tenants/{tenant_id}/offboard": {{method: "POST", path: a + "/offboard", body: map[string]any{"reason": "mole", "erase": false}},
			{method: "POST", path: a + "/offboard", body: map[string]any{"reason": "mole", "erase": true}}},
		"PUT /admin/tenants/{tenant_id}/plan": {{method: "PUT", path: a + "/plan", body: map[string]any{"plan": "pro"}}, {method: "PUT", path: a + "/plan", body: map[string]any{"plan": "starter", "version": 1}}},
	}
}

// ownPath lists, per authenticated route pattern, requests with B's token on B's
// own path that smuggle A's tenant id (body, headers) or A's resource ids (item
// ids, invoice ids, cursors). They may succeed, but only for B.
func (s *isoSetup) ownPath() map[string][]isoAttack {
	b := "/tenants/" + s.b.ID
	bodyNamingA := map[string]any{"tenant_id": s.a.ID, "custom:tenant_id": s.a.ID, "tenantId": s.a.ID}
	usage := map[string]any{"events": []map[string]any{{"id": s.usageID, "meter": "compute_seconds", "quantity": "1", "timestamp": time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC), "properties": map[string]string{"tenant_id": s.a.ID}}}}
	return map[string][]isoAttack{
		"GET /me":                                                 {{method: "GET", path: "/me", headers: s.tenantOverride(), self: true}},
		"GET /tenants/{tenant_id}":                                {{method: "GET", path: b, headers: s.tenantOverride()}},
		"PUT /tenants/{tenant_id}/plan":                           {{method: "PUT", path: b + "/plan", body: map[string]any{"plan": "starter"}, headers: s.tenantOverride()}},
		"POST /tenants/{tenant_id}/users":                         {{method: "POST", path: b + "/users", body: map[string]any{"email": "member@b.example", "password": "Corr3ct-Horse!", "role": "tenant_member"}, headers: s.tenantOverride()}},
		"POST /tenants/{tenant_id}/api-keys":                      {{method: "POST", path: b + "/api-keys", body: map[string]any{"name": "own", "scopes": allScopes}, headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/api-keys":                       {{method: "GET", path: b + "/api-keys", headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/users":                          {{method: "GET", path: b + "/users", headers: s.tenantOverride()}},
		"POST /tenants/{tenant_id}/invitations":                   {{method: "POST", path: b + "/invitations", body: map[string]any{"email": "friend@b.example"}, headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/invitations":                    {{method: "GET", path: b + "/invitations", headers: s.tenantOverride()}},
		"DELETE /tenants/{tenant_id}/invitations/{invitation_id}": {{method: "DELETE", path: b + "/invitations/" + s.invitationA, headers: s.tenantOverride()}},                                               // 404: A's invitation is not B's
		"PATCH /tenants/{tenant_id}/users/{user_id}":              {{method: "PATCH", path: b + "/users/" + s.memberA, body: map[string]any{"roles": []string{"tenant_admin"}}, headers: s.tenantOverride()}}, // 404: A's user is not B's
		"DELETE /tenants/{tenant_id}/users/{user_id}":             {{method: "DELETE", path: b + "/users/" + s.memberA, headers: s.tenantOverride()}},
		"POST /auth/password":                                     {{method: "POST", path: "/auth/password", body: map[string]any{"current_password": "not-bs-password", "new_password": "Pwn3d-by-b-now"}, headers: s.tenantOverride()}},
		"DELETE /tenants/{tenant_id}/api-keys/{key_id}":           {{method: "DELETE", path: b + "/api-keys/" + s.keyA.KeyID, headers: s.tenantOverride()}}, // 404: A's key is not B's
		"GET /tenants/{tenant_id}/events":                         {{method: "GET", path: b + "/events?after=" + s.cursorA, headers: s.tenantOverride()}, {method: "GET", path: b + "/events"}},
		"GET /tenants/{tenant_id}/audit-log":                      {{method: "GET", path: b + "/audit-log?after=" + s.cursorA, headers: s.tenantOverride()}, {method: "GET", path: b + "/audit-log?limit=1000"}},
		"GET /tenants/{tenant_id}/data":                           {{method: "GET", path: b + "/data?cursor=doc-0", headers: s.tenantOverride()}},
		"PUT /tenants/{tenant_id}/data/{item_id}":                 {{method: "PUT", path: b + "/data/smuggled", body: bodyNamingA, headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/data/{item_id}":                 {{method: "GET", path: b + "/data/" + s.itemA, headers: s.tenantOverride()}},
		"DELETE /tenants/{tenant_id}/data/{item_id}": {
			{method: "DELETE", path: b + "/data/" + s.itemA, headers: s.tenantOverride()},
			{method: "DELETE", path: b + "/data/doc-3", headers: append(s.tenantOverride(), "If-Match", `"1"`)},
		},
		"POST /tenants/{tenant_id}/usage": {
			{method: "POST", path: b + "/usage", body: usage, headers: s.tenantOverride()},
			{method: "POST", path: b + "/usage", body: withClaim(usage, "tenant_id", s.a.ID)}, // refused or ignored, never A's
		},
		"GET /billing/{tenant_id}":                        {{method: "GET", path: "/billing/" + s.b.ID, headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/entitlements":           {{method: "GET", path: b + "/entitlements", headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/entitlements/{feature}": {{method: "GET", path: b + "/entitlements/item_writes", headers: s.tenantOverride()}},
		"GET /tenants/{tenant_id}/alerts":                 {{method: "GET", path: b + "/alerts", headers: s.tenantOverride()}},
		"PUT /tenants/{tenant_id}/alerts": {
			{method: "PUT", path: b + "/alerts", body: map[string]any{"thresholds": []any{map[string]any{"subtotal": "1.00"}}, "spend_cap": "5.00"}, headers: s.tenantOverride()}, // B's own, never A's
			{method: "PUT", path: b + "/alerts", body: map[string]any{"thresholds": []any{}, "tenant_id": s.a.ID}},                                                                // 400: no tenant in a body
		},
		"GET /billing/{tenant_id}/invoices":              {{method: "GET", path: "/billing/" + s.b.ID + "/invoices", headers: s.tenantOverride()}},
		"GET /billing/{tenant_id}/invoices/{invoice_id}": {{method: "GET", path: "/billing/" + s.b.ID + "/invoices/" + s.invoiceA, headers: s.tenantOverride()}},
		"GET /billing/{tenant_id}/credits":               {{method: "GET", path: "/billing/" + s.b.ID + "/credits", headers: s.tenantOverride()}},
	}
}

// forgedTokens are tokens that must all get 401: each claims tenant A.
func (s *isoSetup) forgedTokens(t *testing.T) map[string]string {
	t.Helper()
	key, err := identity.LoadOrCreateSigningKey(s.app.dir)
	require.NoError(t, err)
	other, err := identity.GenerateSigningKey()
	require.NoError(t, err)
	good := s.tokA.AccessToken
	parts := strings.Split(good, ".")
	claims := jwtPart(t, good, 1)
	header := jwtPart(t, good, 0)

	// B's own valid token, payload rewritten to claim tenant A, B's signature kept.
	bParts := strings.Split(s.tokB.AccessToken, ".")
	bClaims := withClaim(jwtPart(t, s.tokB.AccessToken, 1), "custom:tenant_id", s.a.ID)
	tamperedPayload := bParts[0] + "." + b64JSON(t, bClaims) + "." + bParts[2]

	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	sig[len(sig)/2] ^= 0x01
	tamperedSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	none := withClaim(header, "alg", "none")
	pubDER, err := x509.MarshalPKIXPublicKey(&key.Private.PublicKey)
	require.NoError(t, err)

	return map[string]string{
		"missing":                   "",
		"malformed":                 "not-a-jwt",
		"malformed three parts":     "a.b.c",
		"expired":                   s.expiredA,
		"tampered payload":          tamperedPayload,
		"tampered signature":        tamperedSig,
		"alg none":                  b64JSON(t, none) + "." + parts[1] + ".",
		"alg none with signature":   b64JSON(t, none) + "." + parts[1] + "." + parts[2],
		"HS256 with public key":     signJWT(t, jose.HS256, pubDER, key.ID, claims),
		"wrong issuer, real key":    signJWT(t, jose.RS256, key.Private, key.ID, withClaim(claims, "iss", "http://evil.example")),
		"right issuer, other key":   signJWT(t, jose.RS256, other.Private, key.ID, claims),
		"other key and its own kid": signJWT(t, jose.RS256, other.Private, other.ID, claims),
		"refresh token as access":   s.tokA.RefreshToken,
		"B's refresh token":         s.tokB.RefreshToken,
		"refresh claims, real key":  signJWT(t, jose.RS256, key.Private, key.ID, withClaim(claims, "token_use", "refresh")),
		"expired claims, real key":  signJWT(t, jose.RS256, key.Private, key.ID, withClaim(claims, "exp", s.app.Clock.Now().Add(-time.Hour).Unix())),
		"revoked API key of A":      s.revokedKeyA,
		"typo in A's API key":       typo(s.keyA.Key),
		"A's API key, other secret": otherSecret(t, s.keyA.Key),
		"API key prefix only":       apikey.Prefix,
		"API key without checksum":  s.keyA.Key[:len(s.keyA.Key)-7],
		// The tenant issuer's real key cannot make an operator: a tenant token
		// carrying platform_admin is refused, with or without a tenant.
		"platform_admin claims, real key":           signJWT(t, jose.RS256, key.Private, key.ID, withClaim(claims, "cognito:groups", []string{"platform_admin"})),
		"platform_admin without tenant, real key":   signJWT(t, jose.RS256, key.Private, key.ID, withClaim(withClaim(claims, "cognito:groups", []string{"platform_admin"}), "custom:tenant_id", "")),
		"operator prefix on A's token":              identity.OperatorTokenPrefix + good,
		"operator token of another key":             otherOperatorToken(t, s.app.Clock.Now()),
		"operator token signed with the tenant key": identity.OperatorTokenPrefix + signJWT(t, jose.RS256, key.Private, key.ID, map[string]any{"iss": "tenantstream-operator", "aud": "tenantstream-admin", "sub": "operator:mole", "name": "mole", "token_use": "operator", "iat": s.app.Clock.Now().Unix(), "exp": s.app.Clock.Now().Add(time.Hour).Unix()}),
	}
}

// TestTenantIsolation is the adversarial suite of docs/ARCHITECTURE.md, decision 9e: for every
// authenticated route, tenant B's valid token cannot read or change tenant A,
// forged tokens are refused, and tenant ids in bodies or headers never override
// the token's.
func TestTenantIsolation(t *testing.T) {
	s := newIsoSetup(t)
	app := s.app
	routes := httpapi.Routes()

	// Public routes are listed here on purpose: a new unauthenticated route must be
	// looked at before this test passes again.
	public := []string{
		"POST /onboarding", "POST /auth/login", "POST /auth/refresh", "POST /auth/logout",
		// These take a one-time token the server derived for one invitation or
		// reset and serve nothing without it; a reset request answers alike for all.
		"POST /invitations/accept", "POST /auth/password-reset", "POST /auth/password-reset/confirm",
		"GET /.well-known/jwks.json", "GET /.well-known/openid-configuration",
		"POST /test-clock", "GET /healthz", "GET /readyz", "GET /openapi.json", "GET /metrics",
	}
	var authed []string
	for _, r := range routes {
		if r.Authed {
			authed = append(authed, r.Pattern)
		} else {
			assert.Contains(t, public, r.Pattern, "unauthenticated route %q: add it to the public list only if it serves no tenant data", r.Pattern)
		}
	}
	require.NotEmpty(t, authed)
	cross, own := s.crossTenant(), s.ownPath()
	// Routes that name no tenant act on the token's own principal only: no
	// cross-tenant request can be written for them, and A's events staying
	// unchanged (below) checks that B's attempts on them touched nothing of A.
	self := []string{"POST /auth/password"}
	for _, p := range authed {
		if !slices.Contains(self, p) {
			assert.NotEmpty(t, cross[p], "route %q has no cross-tenant attack in this suite", p)
		}
		if strings.Contains(p, " /admin/") {
			continue // operators only: no tenant acts on its own there (see below)
		}
		assert.NotEmpty(t, own[p], "route %q has no tenant-override attempt in this suite", p)
	}
	for p := range cross {
		assert.Contains(t, authed, p, "attack for a route that is not registered (renamed?)")
	}
	forged := s.forgedTokens(t)

	before := app.allEvents(t)
	beforeA := eventsOf(before, s.a.ID)
	require.NotEmpty(t, beforeA)
	var itemBefore map[string]any
	app.must(t, http.StatusOK, &itemBefore, "GET", "/tenants/"+s.a.ID+"/data/"+s.itemA, s.tokA.AccessToken, nil)
	app.settle(t) // A's read above is metered to A before the baseline
	before = app.allEvents(t)
	beforeA = eventsOf(before, s.a.ID)

	isProblem := func(t *testing.T, res liveResponse) {
		t.Helper()
		assert.Equal(t, problem.ContentType, res.header.Get("Content-Type"), "%s", res)
		var p problem.Problem
		if assert.NoError(t, json.Unmarshal(res.body, &p), "%s", res) {
			assert.Equal(t, res.status, p.Status)
			assert.NotEmpty(t, p.Title)
		}
	}
	// Nothing B reads may mention A: not its id, its data, nor its invoice. (A write
	// may echo the id of A B itself put in its own item's data.)
	noLeak := func(t *testing.T, method string, res liveResponse) {
		t.Helper()
		secrets := []string{isoMarker, s.invoiceA, s.a.Name}
		if method == http.MethodGet {
			secrets = append(secrets, s.a.ID)
		}
		for _, secret := range secrets {
			assert.NotContains(t, string(res.body), secret, "%s", res)
		}
	}

	// refused checks B's request against A: a 403 or 404 problem, or, on a
	// route that answers for the caller (self), an answer about B only.
	refused := func(t *testing.T, at isoAttack, res liveResponse) {
		t.Helper()
		assert.NotContains(t, string(res.body), isoMarker)
		if at.self {
			assert.Less(t, res.status, 500, "%s", res)
			assert.NotEqual(t, http.StatusUnauthorized, res.status, "%s", res)
			for _, a := range []string{s.a.ID, s.a.Name, s.a.Email, s.invoiceA} {
				assert.NotContains(t, string(res.body), a, "%s", res)
			}
			if res.status == http.StatusOK {
				assert.Contains(t, string(res.body), `"tenant_id":"`+s.b.ID+`"`, "%s", res)
			} else {
				isProblem(t, res)
			}
			return
		}
		assert.Contains(t, []int{http.StatusForbidden, http.StatusNotFound}, res.status, "%s %s: %s", at.method, at.path, res)
		isProblem(t, res)
	}

	t.Run("B's token on A's resources", func(t *testing.T) {
		for _, p := range authed {
			for i, at := range cross[p] {
				t.Run(fmt.Sprintf("%s#%d", p, i), func(t *testing.T) {
					refused(t, at, app.do(t, at.method, at.path, s.tokB.AccessToken, at.body, at.headers...))
				})
			}
		}
	})

	t.Run("B's API key on A's resources", func(t *testing.T) {
		for _, p := range authed {
			for i, at := range cross[p] {
				t.Run(fmt.Sprintf("%s#%d", p, i), func(t *testing.T) {
					refused(t, at, app.do(t, at.method, at.path, s.keyB, at.body, at.headers...))
				})
			}
		}
	})

	t.Run("forged and invalid tokens", func(t *testing.T) {
		names := make([]string, 0, len(forged))
		for n := range forged {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, p := range authed {
			at := slices.Concat(cross[p], own[p])[0]
			for _, name := range names {
				t.Run(p+"/"+name, func(t *testing.T) {
					res := app.do(t, at.method, at.path, forged[name], at.body, at.headers...)
					assert.Equal(t, http.StatusUnauthorized, res.status, "%s", res)
					assert.True(t, strings.HasPrefix(res.header.Get("WWW-Authenticate"), `Bearer realm="tenantstream"`), "WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
					isProblem(t, res)
					assert.NotContains(t, string(res.body), isoMarker)
				})
			}
		}
		// The expired token was valid before the clock moved: the refusal is the clock's.
		assert.Equal(t, s.a.ID, jwtPart(t, s.expiredA, 1)["custom:tenant_id"])
	})

	t.Run("tenant ids in bodies and headers do not override the token", func(t *testing.T) {
		for _, p := range authed {
			for i, at := range own[p] {
				t.Run(fmt.Sprintf("%s#%d", p, i), func(t *testing.T) {
					res := app.do(t, at.method, at.path, s.tokB.AccessToken, at.body, at.headers...)
					assert.Less(t, res.status, 500, "%s", res)
					assert.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, res.status, "B acting on B must be allowed: %s", res)
					noLeak(t, at.method, res)
				})
			}
		}
		// B's override attempts landed in B only.
		var me map[string]any
		app.must(t, http.StatusOK, &me, "GET", "/me", s.tokB.AccessToken, nil, s.tenantOverride()...)
		assert.Equal(t, s.b.ID, me["tenant_id"])
		app.must(t, http.StatusOK, nil, "GET", "/tenants/"+s.b.ID+"/data/smuggled", s.tokB.AccessToken, nil)
		app.must(t, http.StatusNotFound, nil, "GET", "/tenants/"+s.b.ID+"/data/"+s.itemA, s.tokB.AccessToken, nil)
		var prof map[string]any
		app.must(t, http.StatusOK, &prof, "GET", "/tenants/"+s.b.ID, s.tokB.AccessToken, nil, s.tenantOverride()...)
		assert.Equal(t, s.b.ID, prof["tenant_id"])
	})

	t.Run("B's API key on B's own paths, smuggling A", func(t *testing.T) {
		for _, p := range authed {
			for i, at := range own[p] {
				t.Run(fmt.Sprintf("%s#%d", p, i), func(t *testing.T) {
					res := app.do(t, at.method, at.path, s.keyB, at.body, at.headers...)
					assert.Less(t, res.status, 500, "%s", res)
					assert.NotEqual(t, http.StatusUnauthorized, res.status, "B's key is valid: %s", res)
					noLeak(t, at.method, res)
				})
			}
		}
		var me struct {
			TenantID  string         `json:"tenant_id"`
			Principal map[string]any `json:"principal"`
		}
		app.must(t, http.StatusOK, &me, "GET", "/me", s.keyB, nil, s.tenantOverride()...)
		assert.Equal(t, s.b.ID, me.TenantID)
		assert.Equal(t, "api_key", me.Principal["type"])
		res := app.do(t, "GET", "/tenants/"+s.b.ID+"/audit-log", s.keyB, nil)
		assert.Equal(t, http.StatusForbidden, res.status, "a key cannot read even its own tenant's audit log: %s", res)
	})

	t.Run("A is unchanged", func(t *testing.T) {
		app.settle(t)
		after := app.allEvents(t)
		assert.Equal(t, eventIDs(beforeA), eventIDs(eventsOf(after, s.a.ID)), "B's requests wrote to A's streams")
		known := map[string]bool{}
		for _, e := range before {
			known[e.ID] = true
		}
		var wroteB int
		for _, e := range after {
			if !known[e.ID] {
				if e.Type == apikey.TypeRegistered { // the platform index of B's new key
					assert.Contains(t, string(e.Data), `"tenant_id":"`+s.b.ID+`"`)
					continue
				}
				assert.Equal(t, s.b.ID, string(e.TenantID), "new event %s %s/%s belongs to no request of B", e.Type, e.TenantID, e.StreamID)
				wroteB++
			}
		}
		assert.Positive(t, wroteB, "B's own writes (override attempts) must have landed in B")

		// A's own view is the same as before, and B's writes are not in it.
		var itemAfter map[string]any
		app.must(t, http.StatusOK, &itemAfter, "GET", "/tenants/"+s.a.ID+"/data/"+s.itemA, s.tokA.AccessToken, nil)
		assert.Equal(t, itemBefore, itemAfter)
		app.must(t, http.StatusNotFound, nil, "GET", "/tenants/"+s.a.ID+"/data/smuggled", s.tokA.AccessToken, nil)
		app.must(t, http.StatusNotFound, nil, "GET", "/tenants/"+s.a.ID+"/data/brand-new", s.tokA.AccessToken, nil)
		var prof map[string]any
		app.must(t, http.StatusOK, &prof, "GET", "/tenants/"+s.a.ID, s.tokA.AccessToken, nil)
		assert.NotEqual(t, "pro", prof["plan"])
	})

	// Last: A's own requests below are metered to A.
	t.Run("operator routes refuse tenant tokens and API keys", func(t *testing.T) {
		for _, p := range authed {
			if !strings.Contains(p, " /admin/") {
				continue
			}
			// A's own admin, A's own key with every scope, on A's own id.
			for i, at := range s.adminAttacks(s.a.ID)[p] {
				t.Run(fmt.Sprintf("%s#%d", p, i), func(t *testing.T) {
					for who, tok := range map[string]string{"A's admin": s.tokA.AccessToken, "A's API key": s.keyA.Key} {
						res := app.do(t, at.method, at.path, tok, at.body, at.headers...)
						assert.Equal(t, http.StatusForbidden, res.status, "%s: %s", who, res)
						isProblem(t, res)
					}
					res := app.do(t, at.method, at.path, "", at.body, at.headers...)
					assert.Equal(t, http.StatusUnauthorized, res.status, "no token: %s", res)
					isProblem(t, res)
				})
			}
		}
	})
}

// typo changes one character of an API key (past its prefix).
func typo(key string) string {
	i := len(apikey.Prefix) + 3
	c := byte('a')
	if key[i] == 'a' {
		c = 'b'
	}
	return key[:i] + string(c) + key[i+1:]
}

// otherSecret is key with the same id and another secret, correctly checksummed.
func otherSecret(t *testing.T, key string) string {
	k, err := apikey.Parse(key)
	require.NoError(t, err)
	k.Secret = strings.Repeat("q", len(k.Secret))
	return k.String()
}

func eventIDs(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

// otherOperatorToken is an operator token signed with a key that is not the
// data directory's.
func otherOperatorToken(t *testing.T, now time.Time) string {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	k, err := identity.LoadOrCreateOperatorKey(dir)
	require.NoError(t, err)
	tok, _, err := k.Mint("mole", time.Hour, now)
	require.NoError(t, err)
	return tok
}
