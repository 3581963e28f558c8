package commands

import (
	"context"
	"errors"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// GetTenant returns the tenant's profile, folded from its stream (always current).
func (s *Service) GetTenant(ctx context.Context, m Meta, tenantID string) (tenant.Tenant, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return tenant.Tenant{}, err
	}
	return s.loadTenant(ctx, tid)
}

func (s *Service) loadTenant(ctx context.Context, tid events.TenantID) (tenant.Tenant, error) {
	return s.tenantAt(ctx, tid, 0)
}

// tenantAt folds the tenant's stream up to version upTo (0: all of it).
func (s *Service) tenantAt(ctx context.Context, tid events.TenantID, upTo int64) (tenant.Tenant, error) {
	evs, err := s.Store.Load(ctx, tid, tenant.StreamID, 1)
	if errors.Is(err, events.ErrNotFound) {
		return tenant.Tenant{}, domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return tenant.Tenant{}, storeError("load tenant", err)
	}
	var t tenant.Tenant
	for _, ev := range evs {
		if upTo > 0 && ev.Version > upTo {
			break
		}
		p, err := schema.Registry.Decode(ev)
		if err != nil {
			return tenant.Tenant{}, storeError("decode tenant", err)
		}
		t.Apply(ev.Version, p)
	}
	if t.ID == "" {
		// Only tenant.reservation_expired: an onboarding that never completed.
		return tenant.Tenant{}, domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	return t, nil
}

// ChangePlan moves the tenant to another plan at once (tenant_admin only).
func (s *Service) ChangePlan(ctx context.Context, m Meta, tenantID, plan string) (tenant.Tenant, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return tenant.Tenant{}, err
	}
	if err := s.requireRole(ctx, m, tid, identity.RoleTenantAdmin); err != nil {
		return tenant.Tenant{}, err
	}
	book, plans, err := s.planCatalog(ctx)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if !plans.HasPlan(plan) {
		return tenant.Tenant{}, domain.FieldError("plan", "unknown plan %q", plan)
	}
	latest, err := book.LatestVersion(plan)
	if err != nil {
		return tenant.Tenant{}, domain.FieldError("plan", "unknown plan %q", plan)
	}
	// A retry answers what the first attempt answered: the tenant as that
	// change left it.
	answer := func(res events.AppendResult) (tenant.Tenant, error) {
		if res.Events[0].Type != tenant.TypePlanChanged {
			return tenant.Tenant{}, errKeyReused
		}
		return s.tenantAt(ctx, tid, res.LastVersion())
	}
	if res, dup, err := s.firstResult(ctx, m, tid, tenant.StreamID); err != nil {
		return tenant.Tenant{}, err
	} else if dup {
		return answer(res)
	}
	for attempt := 0; ; attempt++ {
		t, err := s.loadTenant(ctx, tid)
		if err != nil {
			return tenant.Tenant{}, err
		}
		if t.Plan == plan && m.IdempotencyKey == "" {
			return t, nil // already there: nothing to record
		}
		// With a key even a no-op is recorded, so the key is bound to this
		// request: a retry replays it, another plan under the key is a 422.
		// A change to another plan takes its latest version; staying on the
		// same plan keeps the version the tenant has (moving a tenant to a
		// newer version is MigratePlan's, docs/billing.md, "Plan versions").
		version := latest
		if t.Plan == plan {
			version = billing.EffectiveVersion(t.PlanVersion)
		}
		ev := &tenant.PlanChanged{From: t.Plan, To: plan, At: s.Clock.Now(), PlanVersion: version}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: tenant.StreamID, StreamType: tenant.StreamType, Expected: events.Exactly(t.Version),
			IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
			Events: []events.NewEvent{newEvent(ev)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < 3 {
			continue
		}
		if err != nil {
			return tenant.Tenant{}, storeError("change plan", err)
		}
		s.dropEntitlementState(tid)
		if res.Duplicate {
			return answer(res)
		}
		t.Apply(res.LastVersion(), ev)
		return t, nil
	}
}

// EventLog returns a page of the tenant's own events (tenant_admin only).
// after and the page's Next are API cursors: store cursors sealed for the
// tenant (Service.Cursors), so they reveal no store-wide position and a cursor
// of another tenant, or a tampered one, is an invalid after.
func (s *Service) EventLog(ctx context.Context, m Meta, tenantID string, after events.Cursor, limit int) (events.Page, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return events.Page{}, err
	}
	if err := s.requireRole(ctx, m, tid, identity.RoleTenantAdmin); err != nil {
		return events.Page{}, err
	}
	page, err := s.eventLogPage(ctx, tid, after, limit)
	if err != nil {
		return events.Page{}, err
	}
	// Secrets never leave through the log, even to the tenant's admin.
	for i := range page.Events {
		page.Events[i].Data = redactSecrets(page.Events[i].Data)
	}
	return page, nil
}
