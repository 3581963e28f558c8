package commands

import (
	"context"
	"errors"
	"sync"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// TenantRateLimits is what the HTTP layer limits a tenant's request with
// (docs/api.md, "Rate limits"): the plan version the tenant is on now and
// that version's limits (nil: the plan sets none).
type TenantRateLimits struct {
	Plan   billing.PlanRef
	Limits *billing.RateLimits
}

// tenantPlanCacheTenants bounds the profiles kept per instance (then it starts
// over, as the roster cache does).
const tenantPlanCacheTenants = 10_000

type tenantPlanCache struct {
	mu sync.Mutex
	m  map[events.TenantID]tenant.Tenant
}

// RateLimitsOf returns the tenant's plan version and its rate limits, current
// with the store: each instance keeps each tenant's folded profile and reads
// only the profile events after it on every call (an empty read almost always:
// memory on SQLite, one Query on DynamoDB), so a plan change appended by any
// instance limits the tenant's next request anywhere. Plan versions never
// change, so the price book is read only when the tenant is on a version this
// instance has not seen. The caller is the HTTP layer, before any command:
// tenantID is the authenticated principal's, never a path's (decision 9a).
func (s *Service) RateLimitsOf(ctx context.Context, tenantID string) (TenantRateLimits, error) {
	tid := events.TenantID(tenantID)
	t, err := s.currentProfile(ctx, tid)
	if err != nil {
		return TenantRateLimits{}, err
	}
	ref := billing.PlanRef{Plan: t.Plan, Version: billing.EffectiveVersion(t.PlanVersion)}
	s.bookMu.Lock()
	book := s.book
	s.bookMu.Unlock()
	pl, err := book.PlanVersion(ref.Plan, ref.Version)
	if err != nil {
		if book, err = s.PriceBook(ctx); err != nil {
			return TenantRateLimits{}, err
		}
		if pl, err = book.PlanVersion(ref.Plan, ref.Version); err != nil {
			return TenantRateLimits{}, storeError("rate limits of "+ref.String(), err)
		}
	}
	return TenantRateLimits{Plan: ref, Limits: pl.RateLimits}, nil
}

// currentProfile is the tenant's profile folded to the stream's head, from the
// instance's cached fold plus the events after it.
func (s *Service) currentProfile(ctx context.Context, tid events.TenantID) (tenant.Tenant, error) {
	c := s.tenantPlans()
	c.mu.Lock()
	cached, known := c.m[tid]
	c.mu.Unlock()
	if !known {
		t, err := s.loadTenant(ctx, tid)
		if err != nil {
			return tenant.Tenant{}, err
		}
		c.put(tid, t)
		return t, nil
	}
	evs, err := s.Store.Load(ctx, tid, tenant.StreamID, cached.Version+1)
	if errors.Is(err, events.ErrNotFound) {
		return cached, nil // past the end
	}
	if err != nil {
		return tenant.Tenant{}, storeError("load tenant", err)
	}
	if len(evs) == 0 {
		return cached, nil
	}
	t := cached
	for _, ev := range evs {
		p, err := schema.Registry.Decode(ev)
		if err != nil {
			return tenant.Tenant{}, storeError("decode tenant", err)
		}
		t.Apply(ev.Version, p)
	}
	c.put(tid, t)
	return t, nil
}

func (c *tenantPlanCache) put(tid events.TenantID, t tenant.Tenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= tenantPlanCacheTenants {
		c.m = map[events.TenantID]tenant.Tenant{}
	}
	if old, ok := c.m[tid]; !ok || old.Version < t.Version {
		c.m[tid] = t
	}
}

func (s *Service) tenantPlans() *tenantPlanCache {
	s.tenantPlansOnce.Do(func() { s.tenantPlanCache = &tenantPlanCache{m: map[events.TenantID]tenant.Tenant{}} })
	return s.tenantPlanCache
}

// PlanLifting names the first plan of the latest catalogue (in catalogue
// order) whose limit for class exceeds current, or that sets none for it, so a
// 429 can say which plan lifts the limit. It reads only the cached book: a
// throttled request costs no store read. "" when no plan does.
func (s *Service) PlanLifting(class billing.RouteClass, current billing.RateLimit, except string) (string, billing.RateLimit) {
	s.bookMu.Lock()
	book := s.book
	s.bookMu.Unlock()
	cat := book.Latest()
	if cat == nil {
		return "", billing.RateLimit{}
	}
	for i := range cat.Plans {
		pl := &cat.Plans[i]
		if pl.ID == except {
			continue
		}
		l, limited := pl.RateLimits.For(class)
		if !limited || l.Exceeds(current) {
			return pl.ID, l
		}
	}
	return "", billing.RateLimit{}
}
