package commands

import (
	"context"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
)

// TenantRateLimits is what the HTTP layer limits a tenant's request with
// (docs/api.md, "Rate limits"): the plan version the tenant is on now and
// that version's limits (nil: the plan sets none).
type TenantRateLimits struct {
	Plan   billing.PlanRef
	Limits *billing.RateLimits
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
	t, err := s.tenantState(ctx, tid)
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
