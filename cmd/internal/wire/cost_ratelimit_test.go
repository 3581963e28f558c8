package wire

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
)

// profileReads are the calls of a bill that read tenants' profile streams:
// what the rate limiter's RateLimitsOf adds to a request (the commands of a
// GET or PUT of an item read no profile).
func profileReads(b awsBill) verification {
	var v verification
	for _, c := range b.calls {
		if strings.Contains(c, "#S#"+tenant.StreamID+" ") {
			v.calls = append(v.calls, c)
			v.requests++
			if f := strings.Fields(c); len(f) >= 2 {
				v.wru += callUnits(f[len(f)-2], "W")
				v.rru += callUnits(f[len(f)-1], "R")
			}
		}
	}
	return v
}

// TestTenantRateLimitCost counts what limiting a tenant costs a request on AWS,
// warm: the api function learns the tenant's plan version by reading the
// profile stream after the version it holds (one consistent Query that
// finds nothing), so a plan change made on any instance limits the next
// request everywhere. The buckets are shared by every instance as one item
// per (tenant, policy), leased a tenth of a burst per write.
// docs/aws.md, "Tenant rate limits", prices the figures.
func TestTenantRateLimitCost(t *testing.T) {
	r := newCostRig(t)
	onboard := r.call(http.MethodPost, "/onboarding", map[string]string{
		"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!"}, nil, http.StatusCreated)
	r.project(onboard.events)
	var tid string
	for _, e := range onboard.events {
		if e.typ == "tenant.onboarded" {
			tid = e.tenant
		}
	}
	require.NotEmpty(t, tid)
	claims := map[string]string{"token_use": "id", "sub": "u-admin", identity.ClaimTenantID: tid, identity.ClaimGroups: "[tenant_admin]"}
	tp := "/tenants/" + tid
	doc := map[string]any{"title": "quarterly report"}
	r.project(r.call(http.MethodPut, tp+"/data/report-1", doc, claims, http.StatusOK).events)
	r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK)

	// Requests less than 50 ms apart share one read of the profile's tail
	// (commands.stateReuse); these measure a request that makes its own.
	apart := func() { time.Sleep(60 * time.Millisecond) }
	report := func(name string, b awsBill, maxRRU float64, maxReads ...int) verification {
		t.Helper()
		v := profileReads(b)
		t.Logf("%s: the whole request %d DynamoDB requests %.1f WRU %.1f RRU; the limiter's plan lookup %d requests %.1f RRU %.1f WRU: %q",
			name, b.requests, b.wru, b.rru, v.requests, v.rru, v.wru, v.calls)
		most := 1
		if len(maxReads) > 0 {
			most = maxReads[0]
		}
		assert.GreaterOrEqual(t, v.requests, 1, "%s: the request reads the profile's tail", name)
		assert.LessOrEqual(t, v.requests, most, "%s: reads of the profile stream", name)
		assert.LessOrEqual(t, v.rru, maxRRU, "%s: read units over budget", name)
		assert.Zero(t, v.wru, "%s: limiting writes nothing", name)
		return v
	}
	apart()
	get := report("GET item, warm", r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK), 1)
	apart()
	put := report("PUT item, warm", r.call(http.MethodPut, tp+"/data/report-1", doc, claims, http.StatusOK), 1)
	for _, v := range []verification{get, put} {
		assert.True(t, strings.HasPrefix(v.calls[0], "Query T#"+tid+"#S#"+tenant.StreamID+" "), "%q", v.calls)
	}

	// The shared buckets: a lease of a tenth of the burst (free reads: 200,
	// so 20) per UpdateItem on the tenant's bucket item, 1 WRU each.
	const n = 60
	var leases, leaseWRU float64
	for range n {
		b := r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK)
		for _, c := range b.calls {
			if strings.Contains(c, " T#"+tid+"#RL ") {
				leases++
				if f := strings.Fields(c); len(f) >= 2 {
					leaseWRU += callUnits(f[len(f)-2], "W")
				}
			}
		}
	}
	t.Logf("%d GETs: %.0f bucket leases, %.1f WRU, %.3f WRU a request", n, leases, leaseWRU, leaseWRU/n)
	assert.LessOrEqual(t, leases, float64(n/20+3), "about one lease per 20 requests")

	// A plan change is seen by the next request: it reads the one new event.
	// (Made by a platform admin: these claims name no user of the roster,
	// which the plan change checks.)
	admin := map[string]string{"token_use": "id", "sub": "ops-1", identity.ClaimGroups: "[platform_admin]"}
	changed := r.call(http.MethodPut, tp+"/plan", map[string]string{"plan": "pro"}, admin, http.StatusOK)
	r.project(changed.events)
	// The first request after the change reads the new event (and, with the
	// tenant's state checked too, at most once more).
	report("GET item after a plan change", r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK), 2, 2)
	apart()
	report("GET item, warm again", r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK), 1)
}
