package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// entitlementsCatalog has the free tier of the acceptance (item_writes
// blocked at 5, compute blocked at 100, 1 seat) and a paid tier that lifts
// each: overage on writes, notify on compute, 3 seats.
const entitlementsCatalog = `currency: USD
meters:
  - id: compute_seconds
    aggregation: sum
plans:
  - id: free
    base_fee: "0"
    prices:
      - {meter: item_writes, model: per_unit, unit_price: "0"}
      - {meter: compute_seconds, model: per_unit, unit_price: "0"}
    features:
      sso: false
      seats: 1
      item_writes: {limit: 5, period: month, on_exceed: block}
      compute_seconds: {limit: 100, period: month, on_exceed: block}
  - id: pro
    base_fee: "49.00"
    prices:
      - {meter: item_writes, model: per_unit, unit_price: "0.001"}
      - {meter: compute_seconds, model: per_unit, unit_price: "0.01"}
    features:
      sso: true
      seats: 3
      item_writes: {limit: 1000, period: month, on_exceed: overage}
      compute_seconds: {limit: 1000, period: month, on_exceed: notify}
`

type entitlementDoc struct {
	Feature   string     `json:"feature"`
	Allowed   bool       `json:"allowed"`
	Limit     *string    `json:"limit"`
	Used      *string    `json:"used"`
	Remaining *string    `json:"remaining"`
	ResetsAt  *time.Time `json:"resets_at"`
}

type limitProblem struct {
	problem.Problem
	Feature     string  `json:"feature"`
	Plan        string  `json:"plan"`
	Limit       string  `json:"limit"`
	Used        string  `json:"used"`
	UpgradePlan *string `json:"upgrade_plan"`
}

func str(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// TestEntitlementsEndToEnd is the acceptance over HTTP: the block at N
// with the problem naming the plan, 40 concurrent writes at the edge, the seat
// limit on users and invitations, an upgrade lifting each at once, malformed
// and unknown features, another tenant refused, and the entitlements' used
// equal to the invoice's quantities at close.
func TestEntitlementsEndToEnd(t *testing.T) {
	cat := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(cat, []byte(entitlementsCatalog), 0o644))
	srv := startServer(t, "", Config{TestClock: true, CatalogFile: cat, StartAt: time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC),
		FlushInterval: time.Hour}) // writes stay unflushed: the check must count them
	onboard := func(name string) (string, string) {
		r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": acmePassword, "plan": "free"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		tok, _ := srv.login(name, "admin@"+name+".test", acmePassword)
		return r.JSON(t)["tenant_id"].(string), tok
	}
	acme, tok := onboard("acme")
	globex, tokG := onboard("globex")
	base := "/tenants/" + acme
	entitlement := func(feature string) entitlementDoc {
		t.Helper()
		r := srv.do(http.MethodGet, base+"/entitlements/"+feature, tok, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var e entitlementDoc
		r.Decode(t, &e)
		return e
	}
	refusedBy := func(r response, feature, limit, used string, upgrade string) {
		t.Helper()
		require.Equal(t, http.StatusPaymentRequired, r.Status, "%s", r.Body)
		assert.Equal(t, problem.ContentType, r.Header.Get("Content-Type"))
		var p limitProblem
		r.Decode(t, &p)
		assert.Equal(t, commands.LimitProblemType, p.Type)
		assert.Equal(t, "limit_exceeded", string(p.Code))
		assert.Equal(t, feature, p.Feature)
		assert.Equal(t, "free", p.Plan)
		assert.Equal(t, limit, p.Limit)
		assert.Equal(t, used, p.Used)
		assert.Contains(t, p.Detail, "limit of plan free is "+limit)
		if upgrade == "" {
			assert.Nil(t, p.UpgradePlan, "%s", r.Body)
		} else if assert.NotNil(t, p.UpgradePlan) {
			assert.Equal(t, upgrade, *p.UpgradePlan)
			assert.Contains(t, p.Detail, "The "+upgrade+" plan lifts it.")
		}
	}
	put := func(id string) response {
		return srv.do(http.MethodPut, base+"/data/"+id, tok, map[string]string{"n": id})
	}
	usage := func(id, qty string) response {
		return srv.do(http.MethodPost, base+"/usage", tok, map[string]any{"events": []map[string]any{
			{"id": id, "meter": "compute_seconds", "quantity": qty, "timestamp": srv.App.Clock.Now().UTC().Format(time.RFC3339)}}})
	}

	// The free tier as the check answers it.
	e := entitlement("item_writes")
	assert.Equal(t, entitlementDoc{Feature: "item_writes", Allowed: true, Limit: ptr("5"), Used: ptr("0"), Remaining: ptr("5"),
		ResetsAt: ptrTime(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))}, e)
	assert.Equal(t, entitlementDoc{Feature: "seats", Allowed: false, Limit: ptr("1"), Used: ptr("1"), Remaining: ptr("0")}, entitlement("seats"))
	assert.Equal(t, entitlementDoc{Feature: "sso", Allowed: false}, entitlement("sso"))
	r := srv.do(http.MethodGet, base+"/entitlements", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var list struct {
		Plan         string           `json:"plan"`
		PlanVersion  int              `json:"plan_version"`
		Entitlements []entitlementDoc `json:"entitlements"`
	}
	r.Decode(t, &list)
	assert.Equal(t, "free", list.Plan)
	assert.Equal(t, 1, list.PlanVersion)
	assert.Len(t, list.Entitlements, 4)

	t.Run("malformed and unknown features", func(t *testing.T) {
		for _, f := range []string{"SSO", "a%20b", strings.Repeat("x", 65), "%00", "%C3%A9", "a;b"} {
			r := srv.do(http.MethodGet, base+"/entitlements/"+f, tok, nil)
			assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", f, r.Body)
			assert.Equal(t, problem.ContentType, r.Header.Get("Content-Type"), f)
		}
		r := srv.do(http.MethodGet, base+"/entitlements/gpu", tok, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
		assert.Equal(t, problem.ContentType, r.Header.Get("Content-Type"))
	})
	t.Run("another tenant's token and key", func(t *testing.T) {
		for _, p := range []string{base + "/entitlements", base + "/entitlements/item_writes"} {
			r := srv.do(http.MethodGet, p, tokG, nil)
			assert.Contains(t, []int{http.StatusForbidden, http.StatusNotFound}, r.Status, "%s", r.Body)
			assert.NotContains(t, string(r.Body), `"used"`)
		}
		r := srv.do(http.MethodPost, "/tenants/"+globex+"/api-keys", tokG, map[string]any{"name": "g", "scopes": []string{"billing:read"}})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		r = srv.do(http.MethodGet, base+"/entitlements", r.JSON(t)["key"].(string), nil)
		assert.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	})
	t.Run("a key of the tenant checks before paid work", func(t *testing.T) {
		r := srv.do(http.MethodPost, base+"/api-keys", tok, map[string]any{"name": "backend", "scopes": []string{"billing:read"}})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		key := r.JSON(t)["key"].(string)
		r = srv.do(http.MethodGet, base+"/entitlements/item_writes", key, nil)
		assert.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r = srv.do(http.MethodPost, base+"/api-keys", tok, map[string]any{"name": "ingest", "scopes": []string{"usage:write"}})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		r = srv.do(http.MethodGet, base+"/entitlements", r.JSON(t)["key"].(string), nil)
		assert.Equal(t, http.StatusForbidden, r.Status, "a key without billing:read: %s", r.Body)
	})

	// The block at N: 4 writes, then 40 at once with one write left.
	for _, id := range []string{"w1", "w2", "w3", "w4"} {
		require.Equal(t, http.StatusOK, put(id).Status)
	}
	var wg sync.WaitGroup
	statuses := make([]response, 40)
	for i := range statuses {
		wg.Go(func() { statuses[i] = put("c" + string(rune('a'+i%26)) + string(rune('a'+i/26))) })
	}
	wg.Wait()
	ok := 0
	for _, r := range statuses {
		switch r.Status {
		case http.StatusOK:
			ok++
		default:
			refusedBy(r, "item_writes", "5", "5", "pro")
		}
	}
	assert.Equal(t, 1, ok, "40 concurrent writes at limit-1: exactly one gets through")
	refusedBy(srv.do(http.MethodDelete, base+"/data/w1", tok, nil), "item_writes", "5", "5", "pro")
	e = entitlement("item_writes")
	assert.Equal(t, "5", str(e.Used))
	assert.Equal(t, "0", str(e.Remaining))
	assert.False(t, e.Allowed)
	r = srv.do(http.MethodGet, base+"/data?limit=100", tok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Len(t, r.JSON(t)["items"], 5, "the refused writes wrote nothing")

	// A usage report that would pass the compute limit is refused whole.
	require.Equal(t, http.StatusAccepted, usage("job-1", "60").Status)
	refusedBy(usage("job-2", "50"), "compute_seconds", "100", "60", "pro")
	r = srv.do(http.MethodPost, base+"/usage", tok, map[string]any{"events": []map[string]any{
		{"id": "job-3", "meter": "compute_seconds", "quantity": "10", "timestamp": srv.App.Clock.Now().UTC().Format(time.RFC3339)},
		{"id": "job-4", "meter": "compute_seconds", "quantity": "31", "timestamp": srv.App.Clock.Now().UTC().Format(time.RFC3339)}}})
	refusedBy(r, "compute_seconds", "100", "60", "pro")
	assert.Equal(t, "60", str(entitlement("compute_seconds").Used), "nothing of a refused report is billed")
	require.Equal(t, http.StatusAccepted, usage("job-5", "40").Status, "exactly the limit is within it")
	require.Equal(t, http.StatusAccepted, usage("job-5", "40").Status, "a retried record adds nothing, so it is admitted")

	// Seats: the admin holds the one seat.
	refusedBy(srv.do(http.MethodPost, base+"/users", tok, map[string]string{"email": "dev@acme.test", "password": acmePassword}), "seats", "1", "1", "pro")
	refusedBy(srv.do(http.MethodPost, base+"/invitations", tok, map[string]string{"email": "dev@acme.test"}), "seats", "1", "1", "pro")

	// An upgrade lifts each at once.
	r = srv.do(http.MethodPut, base+"/plan", tok, map[string]string{"plan": "pro"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, http.StatusOK, put("after-upgrade").Status, "overage: writes go on and are billed")
	assert.Equal(t, http.StatusNoContent, srv.do(http.MethodDelete, base+"/data/w1", tok, nil).Status)
	assert.Equal(t, http.StatusAccepted, usage("job-6", "50").Status)
	r = srv.do(http.MethodPost, base+"/invitations", tok, map[string]string{"email": "dev@acme.test"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = srv.do(http.MethodPost, base+"/users", tok, map[string]string{"email": "ops@acme.test", "password": acmePassword})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	seats := entitlement("seats")
	assert.Equal(t, "3", str(seats.Used), "the admin, the added user and the pending invitation")
	r = srv.do(http.MethodPost, base+"/invitations", tok, map[string]string{"email": "third@acme.test"})
	require.Equal(t, http.StatusPaymentRequired, r.Status, "%s", r.Body)
	var p limitProblem
	r.Decode(t, &p)
	assert.Equal(t, "pro", p.Plan)
	assert.Nil(t, p.UpgradePlan, "no plan of the catalogue has more seats")

	// notify: passing pro's compute limit lets the report through and notifies once.
	require.Equal(t, http.StatusAccepted, usage("job-7", "900").Status) // 60+40+50+900 = 1050 > 1000
	require.Equal(t, http.StatusAccepted, usage("job-8", "1").Status)
	c := entitlement("compute_seconds")
	assert.True(t, c.Allowed)
	assert.Equal(t, "1051", str(c.Used))
	assert.Equal(t, "0", str(c.Remaining))
	passed := srv.live.notificationsOf(t, "entitlement.limit_passed")
	require.Len(t, passed, 1, "once per period")
	assert.Equal(t, acme, passed[0]["tenant_id"])

	// The entitlements' used is what the invoice bills at close.
	require.NoError(t, srv.App.Meter.Flush(t.Context()))
	want := map[string]decimal.Decimal{}
	for _, m := range []string{"item_writes", "compute_seconds"} {
		want[m] = decimal.RequireFromString(str(entitlement(m).Used))
	}
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-04-01T02:00:00Z"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	srv.settle()
	tok, _ = srv.login("acme", "admin@acme.test", acmePassword)
	r = srv.do(http.MethodGet, "/billing/"+acme+"/invoices", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var invs struct {
		Invoices []invoiceDoc `json:"invoices"`
	}
	r.Decode(t, &invs)
	require.Len(t, invs.Invoices, 1)
	got := map[string]decimal.Decimal{}
	for _, ln := range invs.Invoices[0].Lines {
		if ln.Kind == "usage" {
			got[ln.Meter] = got[ln.Meter].Add(decimal.RequireFromString(ln.Quantity))
		}
	}
	for m, w := range want {
		assert.True(t, w.Equal(got[m]), "%s: entitlements said %s used, the invoice bills %s", m, w, got[m])
	}
	assert.Equal(t, "7", want["item_writes"].String(), "5 on free, 2 on pro")
	e = entitlement("item_writes")
	assert.Equal(t, "0", str(e.Used), "a new period")
	assert.Equal(t, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), *e.ResetsAt)
}

func ptr(s string) *string           { return &s }
func ptrTime(t time.Time) *time.Time { return &t }
