package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

// limitCatalog has a free tier limited per minute (so the running test clock
// refills nothing during a test) and a paid tier limited per second, and an
// unlimited plan.
func limitCatalog(freeRead int) string {
	return fmt.Sprintf(`{"currency":"USD","meters":[{"id":"compute_seconds","aggregation":"sum"}],"plans":[
	  {"id":"free","rate_limits":{"read":{"rate":1,"per":"1m","burst":%d},"write":{"rate":1,"per":"1m","burst":2},"usage":{"rate":1,"per":"1m","burst":1}}},
	  {"id":"paid","base_fee":"10","rate_limits":{"default":{"rate":100,"per":"1s","burst":100}}},
	  {"id":"unlimited","base_fee":"100"}]}`, freeRead)
}

func mustCatalog(t testing.TB, doc string) *billing.Catalog {
	t.Helper()
	c, err := billing.ParseCatalog([]byte(doc))
	require.NoError(t, err)
	return c
}

// newLimitedAPI is the input harness on limitCatalog with tenant limits on.
func newLimitedAPI(t *testing.T) *inputAPI {
	t.Helper()
	cat := mustCatalog(t, limitCatalog(3))
	return newInputAPI(t, func(a *httpapi.API) {
		a.Service.Plans = commands.Catalog{Catalog: cat}
		a.Meters = commands.Catalog{Catalog: cat}
		a.TenantLimit = ratelimit.NewKeyed(a.Service.Clock, 0)
	})
}

func (h *inputAPI) getData(tn inputTenant, token string) inputResponse {
	return h.request(http.MethodGet, "/tenants/"+tn.ID+"/data", token, nil)
}

// The free tier's reads: three at once, each answer saying what is left, then
// a 429 quota-exceeded problem with Retry-After, naming the limit, the plan
// version it comes from and the plan that lifts it.
func TestTenantRateLimitHeadersAnd429(t *testing.T) {
	t.Parallel()
	h := newLimitedAPI(t)
	acme := h.onboard("acme")
	for i, left := range []int{2, 1, 0} {
		r := h.getData(acme, acme.Token)
		require.Equal(t, http.StatusOK, r.Status, "read %d: %s", i, r.Body)
		assert.Equal(t, `"read";q=1;w=60;ts-burst=3`, r.Header.Get("RateLimit-Policy"))
		assert.Regexp(t, `^"read";r=`+strconv.Itoa(left)+`;t=(1[2-9]\d|[1-9]\d)$`, r.Header.Get("RateLimit"), "read %d", i)
	}
	r := h.getData(acme, acme.Token)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	assert.Empty(t, problemError(r), "%s", r.Body)
	assert.Equal(t, `"read";q=1;w=60;ts-burst=3`, r.Header.Get("RateLimit-Policy"))
	assert.Regexp(t, `^"read";r=0;t=\d+$`, r.Header.Get("RateLimit"))
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is delay-seconds")
	assert.True(t, retry >= 1 && retry <= 60, "one request a minute: Retry-After %d", retry)
	var p struct {
		Type, Title, Detail, Code string
		Status                    int
		Violated                  []string `json:"violated-policies"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &p))
	assert.Equal(t, httpapi.QuotaExceededType, p.Type)
	assert.Equal(t, "rate_limited", p.Code)
	assert.Equal(t, []string{"read"}, p.Violated)
	assert.Contains(t, p.Detail, "Plan free v1 allows 1 per 1m read requests (burst 3)")
	assert.Contains(t, p.Detail, "Plan paid allows 100 per 1s (burst 100)", "the plan that lifts it")
}

// Each class has its own budget: reads spent leave writes and usage reports
// alone, and a plan change has a budget of its own too.
func TestTenantRateLimitClassesAreIndependent(t *testing.T) {
	t.Parallel()
	h := newLimitedAPI(t)
	acme := h.onboard("acme")
	for range 3 {
		require.Equal(t, http.StatusOK, h.getData(acme, acme.Token).Status)
	}
	require.Equal(t, http.StatusTooManyRequests, h.getData(acme, acme.Token).Status)

	put := h.request(http.MethodPut, "/tenants/"+acme.ID+"/data/a", acme.Token, []byte(`{"n":1}`))
	require.Equal(t, http.StatusOK, put.Status, "%s", put.Body)
	assert.Equal(t, `"write";q=1;w=60;ts-burst=2`, put.Header.Get("RateLimit-Policy"))
	assert.Regexp(t, `^"write";r=1;`, put.Header.Get("RateLimit"))

	usage := h.request(http.MethodPost, "/tenants/"+acme.ID+"/usage", acme.Token,
		[]byte(`{"events":[{"id":"u1","meter":"compute_seconds","quantity":"1","timestamp":"`+h.Clock.Now().UTC().Format(time.RFC3339)+`"}]}`))
	require.Equal(t, http.StatusAccepted, usage.Status, "%s", usage.Body)
	assert.Regexp(t, `^"usage";r=0;`, usage.Header.Get("RateLimit"))
	usage = h.request(http.MethodPost, "/tenants/"+acme.ID+"/usage", acme.Token, []byte(`{"events":[]}`))
	assert.Equal(t, http.StatusTooManyRequests, usage.Status, "the usage burst is 1")

	require.Equal(t, http.StatusOK, h.request(http.MethodPut, "/tenants/"+acme.ID+"/data/b", acme.Token, []byte(`{"n":2}`)).Status)
	require.Equal(t, http.StatusTooManyRequests, h.request(http.MethodPut, "/tenants/"+acme.ID+"/data/c", acme.Token, []byte(`{"n":3}`)).Status)
	plan := h.request(http.MethodPut, "/tenants/"+acme.ID+"/plan", acme.Token, []byte(`{"plan":"free"}`))
	assert.Equal(t, http.StatusOK, plan.Status, "a tenant at its write limit can still change its plan: %s", plan.Body)
	assert.Regexp(t, `^"plan";r=1;`, plan.Header.Get("RateLimit"))
}

// One tenant's spent budget is its own: another tenant reads on, and a token
// of another tenant sent at acme's paths (refused) spends the sender's budget,
// never acme's.
func TestTenantRateLimitsArePerTenant(t *testing.T) {
	t.Parallel()
	h := newLimitedAPI(t)
	acme, globex := h.onboard("acme"), h.onboard("globex")
	for range 3 {
		require.Equal(t, http.StatusOK, h.getData(acme, acme.Token).Status)
	}
	require.Equal(t, http.StatusTooManyRequests, h.getData(acme, acme.Token).Status)
	r := h.getData(globex, globex.Token)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Regexp(t, `^"read";r=2;`, r.Header.Get("RateLimit"), "globex has its whole burst")

	initech := h.onboard("initech")
	for range 5 {
		r := h.getData(initech, globex.Token) // globex's token, initech's path
		assert.Contains(t, []int{http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests}, r.Status)
	}
	r = h.getData(initech, initech.Token)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Regexp(t, `^"read";r=2;`, r.Header.Get("RateLimit"), "another tenant's traffic spent nothing of initech's")
}

// Requests that do not authenticate are no tenant's: they never reach the
// limiter, and the tenant whose path they name keeps its budget.
func TestUnauthenticatedRequestsAreNotCountedAgainstATenant(t *testing.T) {
	t.Parallel()
	h := newLimitedAPI(t)
	acme := h.onboard("acme")
	for _, token := range []string{"", "not-a-jwt", acme.Token + "x", "tsk_live_" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		for range 4 {
			r := h.getData(acme, token)
			require.Equal(t, http.StatusUnauthorized, r.Status, "%q: %s", token, r.Body)
			assert.Empty(t, r.Header.Get("RateLimit"), "no tenant, no tenant limit")
		}
	}
	r := h.getData(acme, acme.Token)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Regexp(t, `^"read";r=2;`, r.Header.Get("RateLimit"))
}

// An API key and a user's token of one tenant spend one budget: the limit is
// the tenant's, whatever the credential.
func TestAPIKeyAndTokenShareTheTenantBudget(t *testing.T) {
	t.Parallel()
	h := newLimitedAPI(t)
	acme := h.onboard("acme")
	_, key := h.createKey(acme, "reader", "data:read")
	require.Equal(t, http.StatusOK, h.getData(acme, acme.Token).Status)
	require.Equal(t, http.StatusOK, h.getData(acme, key).Status)
	r := h.getData(acme, acme.Token)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Regexp(t, `^"read";r=0;`, r.Header.Get("RateLimit"))
	assert.Equal(t, http.StatusTooManyRequests, h.getData(acme, key).Status, "the key finds the budget the token spent")
}

// An upgrade lifts the limit on the tenant's very next request: a plan change
// through the API, and an operator's migration to a new version of the same
// plan published with a higher limit.
func TestUpgradeLiftsTheLimitAtOnce(t *testing.T) {
	t.Parallel()
	var svc *commands.Service
	cat := mustCatalog(t, limitCatalog(3))
	h := newInputAPI(t, func(a *httpapi.API) {
		a.Service.Plans = commands.Catalog{Catalog: cat}
		a.TenantLimit = ratelimit.NewKeyed(a.Service.Clock, 0)
		svc = a.Service
	})
	acme, globex := h.onboard("acme"), h.onboard("globex")
	for _, tn := range []inputTenant{acme, globex} {
		for range 3 {
			require.Equal(t, http.StatusOK, h.getData(tn, tn.Token).Status)
		}
		require.Equal(t, http.StatusTooManyRequests, h.getData(tn, tn.Token).Status)
	}

	// acme takes the paid plan the 429 named.
	r := h.request(http.MethodPut, "/tenants/"+acme.ID+"/plan", acme.Token, []byte(`{"plan":"paid"}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	for i := range 50 {
		r := h.getData(acme, acme.Token)
		require.Equal(t, http.StatusOK, r.Status, "paid read %d", i)
		require.Equal(t, `"read";q=100;w=1;ts-burst=100`, r.Header.Get("RateLimit-Policy"))
	}

	// globex stays on free, and an operator publishes free v2 with a larger
	// read burst and migrates globex to it.
	ctx := context.Background()
	res, err := svc.PublishCatalog(ctx, mustCatalog(t, limitCatalog(20)))
	require.NoError(t, err)
	require.Equal(t, []billing.PlanRef{{Plan: "free", Version: 2}}, res.Created)
	require.Equal(t, http.StatusTooManyRequests, h.getData(globex, globex.Token).Status, "a publication alone changes no tenant's version")
	ops := commands.Meta{Principal: ident.Principal{UserID: "ops", Roles: []string{ident.RolePlatformAdmin}}}
	_, err = svc.MigratePlan(ctx, ops, globex.ID, "free", 2, time.Time{})
	require.NoError(t, err)
	r = h.getData(globex, globex.Token)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, `"read";q=1;w=60;ts-burst=20`, r.Header.Get("RateLimit-Policy"))
	assert.Regexp(t, `^"read";r=16;`, r.Header.Get("RateLimit"), "the 4 requests taken on v1 count against v2's burst of 20")
}

// A plan without rate_limits limits nothing and sends no RateLimit fields.
func TestPlanWithoutRateLimitsIsNotLimited(t *testing.T) {
	t.Parallel()
	h := newLimitedAPI(t)
	acme := h.onboard("acme")
	r := h.request(http.MethodPut, "/tenants/"+acme.ID+"/plan", acme.Token, []byte(`{"plan":"unlimited"}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	for range 20 {
		r := h.getData(acme, acme.Token)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Empty(t, r.Header.Get("RateLimit"))
		assert.Empty(t, r.Header.Get("RateLimit-Policy"))
	}
}

// 40 concurrent reads of a tenant with a burst of 3: exactly 3 answers, 37
// well-formed 429s, never a 500.
func TestConcurrentRequestsHonourTheTenantBurst(t *testing.T) {
	t.Parallel()
	h := newLimitedAPI(t)
	acme := h.onboard("acme")
	const n = 40
	statuses := make([]int, n)
	bad := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := h.getData(acme, acme.Token)
			statuses[i] = r.Status
			if r.Status == http.StatusTooManyRequests {
				bad[i] = problemError(r)
			}
		})
	}
	wg.Wait()
	counts := map[int]int{}
	for i, s := range statuses {
		counts[s]++
		assert.Empty(t, bad[i])
	}
	assert.Equal(t, map[int]int{http.StatusOK: 3, http.StatusTooManyRequests: n - 3}, counts)
}

// A refusal is held about TenantLimitHold before it is answered (jittered
// between half and one and a half of it), so a client that ignores
// Retry-After gets few answers per connection; one whose client went away
// is let go at once.
func TestRefusalsAreHeld(t *testing.T) {
	t.Parallel()
	const hold = 80 * time.Millisecond
	cat := mustCatalog(t, limitCatalog(1))
	h := newInputAPI(t, func(a *httpapi.API) {
		a.Service.Plans = commands.Catalog{Catalog: cat}
		a.TenantLimit = ratelimit.NewKeyed(a.Service.Clock, 0)
		a.TenantLimitHold = hold
	})
	acme := h.onboard("acme")
	start := time.Now()
	require.Equal(t, http.StatusOK, h.getData(acme, acme.Token).Status)
	assert.Less(t, time.Since(start), hold/2, "an allowed request is not held")
	start = time.Now()
	r := h.getData(acme, acme.Token)
	took := time.Since(start)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.GreaterOrEqual(t, took, hold/2)
	assert.NotEmpty(t, r.Header.Get("Retry-After"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/tenants/"+acme.ID+"/data", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+acme.Token)
	start = time.Now()
	h.Handler.ServeHTTP(httptest.NewRecorder(), req)
	assert.Less(t, time.Since(start), hold/2, "a gone client is not held")
}
