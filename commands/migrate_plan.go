package commands

import (
	"context"
	"errors"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

// MigratePlan moves a tenant to another version of the plan it is on (toVersion
// 0: the latest), effective at (zero: now), as a tenant.plan_changed to the same
// plan. The period's segments split at the migration and are prorated as a plan
// change is (docs/billing.md, "Plan versions"): tenants keep the version they
// subscribed to (grandfathering) until an operator migrates them. Platform
// admins only. at may not lie in the future, before the tenant's latest plan
// event, or outside the current period (an ended one may be closing meanwhile).
func (s *Service) MigratePlan(ctx context.Context, m Meta, tenantID, planID string, toVersion int, at time.Time) (tenant.Tenant, error) {
	if !m.Principal.Has(identity.RolePlatformAdmin) {
		return tenant.Tenant{}, domain.Errorf(domain.CodeForbidden, "migrating a plan version needs the %s role", identity.RolePlatformAdmin)
	}
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return tenant.Tenant{}, err
	}
	book, err := s.PriceBook(ctx)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if toVersion == 0 {
		toVersion = book.Versions(planID)
	}
	if _, err := book.PlanVersion(planID, toVersion); err != nil || toVersion < 0 {
		return tenant.Tenant{}, domain.FieldError("version", "plan %q has no version %d", planID, toVersion)
	}
	now := s.Clock.Now()
	if at.IsZero() {
		at = now
	}
	at = at.UTC()
	if at.After(now) {
		return tenant.Tenant{}, domain.FieldError("at", "a migration cannot take effect in the future")
	}
	// Only in the current period: an ended one may be closing right now, and a
	// close folds the profile before it appends its invoice, in another stream,
	// so a migration dated into it could land after the fold and leave an
	// invoice that no longer audits.
	if cur := billing.PeriodOf(now); billing.PeriodOf(at) != cur {
		return tenant.Tenant{}, domain.FieldError("at", "a migration takes effect in the current period (%s) only; earlier periods may be invoiced or closing", cur)
	}
	for attempt := 0; ; attempt++ {
		t, err := s.loadTenant(ctx, tid)
		if err != nil {
			return tenant.Tenant{}, err
		}
		if t.Plan != planID {
			return tenant.Tenant{}, domain.FieldError("plan", "tenant is on plan %q, not %q; change its plan instead", t.Plan, planID)
		}
		if billing.EffectiveVersion(t.PlanVersion) == toVersion {
			return t, nil // already there
		}
		if at.Before(t.UpdatedAt) {
			return tenant.Tenant{}, domain.FieldError("at", "must not be before the tenant's last plan change (%s)", t.UpdatedAt.UTC().Format(time.RFC3339))
		}
		for q := billing.PeriodOf(at); !q.Start().After(now); q = q.Next() {
			_, err := s.Store.Load(ctx, tid, events.StreamID(InvoiceStreamID(q)), 1)
			if err == nil {
				return tenant.Tenant{}, domain.FieldError("at", "period %s is already invoiced", q)
			}
			if !errors.Is(err, events.ErrNotFound) {
				return tenant.Tenant{}, storeError("load invoice", err)
			}
		}
		ev := &tenant.PlanChanged{From: t.Plan, To: planID, At: at, PlanVersion: toVersion}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: tenant.StreamID, StreamType: tenant.StreamType, Expected: events.Exactly(t.Version),
			CorrelationID: m.CorrelationID, Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(ev)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < 3 {
			continue
		}
		if err != nil {
			return tenant.Tenant{}, storeError("migrate plan", err)
		}
		s.dropEntitlementState(tid)
		s.logger().InfoContext(ctx, "plan version migrated", "tenant", tid, "plan", planID, "from_version", billing.EffectiveVersion(t.PlanVersion), "to_version", toVersion, "at", at)
		t.Apply(res.LastVersion(), ev)
		return t, nil
	}
}
