package httpapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/handlers/problem"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

// TenantLimiter takes one request of a tenant's policy bucket at a rate:
// ratelimit.Keyed in one process, handlers/ratelimit/dynamodb.Shared across
// the api function's instances. It answers whatever happens (a shared limiter
// whose store fails limits on its instance), never "unlimited".
type TenantLimiter interface {
	TakeTenant(ctx context.Context, tenant, policy string, r ratelimit.Rate) ratelimit.Decision
}

// QuotaExceededType is the problem type of a tenant's 429, registered by
// draft-ietf-httpapi-ratelimit-headers (section 5.1).
const QuotaExceededType = "https://iana.org/assignments/http-problem-types#quota-exceeded"

// DefaultTenantLimitHold is the local server's TenantLimitHold: a flooding
// connection gets at most 10 refusals a second (decision 20).
const DefaultTenantLimitHold = 100 * time.Millisecond

// RouteClassOf is the rate-limit class of an authenticated route pattern
// (docs/billing.md, "Rate limits"): a usage report is usage, every GET is
// read (HEAD is served by the GET route), everything else is write.
func RouteClassOf(pattern string) billing.RouteClass {
	method, _, _ := strings.Cut(pattern, " ")
	switch {
	case pattern == "POST /tenants/{tenant_id}/usage":
		return billing.ClassUsage
	case method == http.MethodGet:
		return billing.ClassRead
	}
	return billing.ClassWrite
}

// limitTenant limits an authenticated route per (tenant, route class) at the
// limits of the tenant's plan version, after authentication and before
// anything else (scopes, query checks, commands, stores). It answers every
// limited request, allowed or not, with RateLimit-Policy and RateLimit, and a
// refused one with a 429 quota-exceeded problem and Retry-After. Platform
// admins (no tenant) are not limited; API keys and tokens of one tenant share
// its budget, since the key is the principal's tenant (decision 9a).
func (a *API) limitTenant(h func(w http.ResponseWriter, r *http.Request) error, pattern string) func(w http.ResponseWriter, r *http.Request) error {
	if a.TenantLimit == nil {
		return h
	}
	class := RouteClassOf(pattern)
	// A plan change is a write, on a budget of its own, so a tenant at its
	// write limit can still take the plan the 429 names.
	policy := string(class)
	if pattern == "PUT /tenants/{tenant_id}/plan" {
		policy = "plan"
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		if p.TenantID == "" {
			return h(w, r)
		}
		lim, err := a.Service.RateLimitsOf(r.Context(), p.TenantID)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return h(w, r) // no profile: the command answers (nothing it can do is on a plan)
		}
		if err != nil {
			return err
		}
		l, limited := lim.Limits.For(class)
		if !limited {
			return h(w, r)
		}
		d := a.TenantLimit.TakeTenant(r.Context(), p.TenantID, policy, ratelimit.Rate{N: l.Rate, Per: l.Period(), Burst: l.Burst})
		setRateLimitHeaders(w.Header(), policy, l, d)
		if !d.Allowed {
			wait := max(d.RetryAfter-a.holdRefusal(r), time.Millisecond)
			a.writeQuotaExceeded(w, r, class, policy, l, lim.Plan, wait)
			return nil
		}
		return h(w, r)
	}
}

// holdRefusal waits before a 429 is answered, and returns how long: half to one
// and a half TenantLimitHold, or until the client goes away. A client that does
// not wait for Retry-After (a flood over keep-alive connections) then gets about
// one answer per connection per hold instead of one per round trip, so its
// refusals cost the server next to nothing and other tenants' requests keep the
// CPU (docs/ARCHITECTURE.md, decision 20). A waiting request costs a goroutine,
// no CPU; the api function on Lambda sets no hold, since there a held request is
// billed duration and an instance taken from other requests.
func (a *API) holdRefusal(r *http.Request) (held time.Duration) {
	if a.TenantLimitHold <= 0 {
		return 0
	}
	// Jittered, so the connections of one flood, refused together, do not
	// come back together: a herd every hold would queue everyone behind it.
	hold := a.TenantLimitHold/2 + rand.N(a.TenantLimitHold)
	start := time.Now()
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	return time.Since(start)
}

// setRateLimitHeaders writes the draft's fields for one policy, named after
// the route class: q and w are the sustained rate (q requests per w seconds;
// a client pacing itself at it is never refused), ts-burst how many may come
// at once; r is how many the bucket would take now and t the seconds until it
// holds its whole burst again.
func setRateLimitHeaders(h http.Header, policy string, l billing.RateLimit, d ratelimit.Decision) {
	window := int64(l.Period() / time.Second)
	h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d;ts-burst=%d", policy, l.Rate, window, l.Burst))
	h.Set("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", policy, d.Remaining, ceilSeconds(d.Full)))
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// writeQuotaExceeded answers 429 problem+json naming the limit, the plan
// version it comes from and the plan of the latest catalogue that lifts it.
func (a *API) writeQuotaExceeded(w http.ResponseWriter, r *http.Request, class billing.RouteClass, policy string, l billing.RateLimit, plan billing.PlanRef, wait time.Duration) {
	detail := fmt.Sprintf("Plan %s allows %s %s requests (burst %d) per tenant; retry in %d s.",
		plan, perWindow(l), class, l.Burst, max(ceilSeconds(wait), 1))
	switch up, ul := a.Service.PlanLifting(class, l, plan.Plan); {
	case up != "" && ul.Rate == 0:
		detail += fmt.Sprintf(" Plan %s does not limit %s requests.", up, class)
	case up != "":
		detail += fmt.Sprintf(" Plan %s allows %s (burst %d).", up, perWindow(ul), ul.Burst)
	}
	p := problem.From(r, &rateLimited{wait: wait, msg: detail})
	p.Type = QuotaExceededType
	p.Title = "Request cannot be satisfied as assigned quota has been exceeded"
	p.ViolatedPolicies = []string{policy}
	problem.WriteProblem(w, p)
}

func perWindow(l billing.RateLimit) string {
	return strconv.Itoa(l.Rate) + " per " + l.Per
}
