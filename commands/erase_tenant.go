package commands

import (
	"context"
	"errors"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// KeyShredder destroys a tenant's data keys: the sealing store
// (events/shred.Store), which also forgets the keys it holds.
type KeyShredder interface {
	Erase(ctx context.Context, tenant events.TenantID) error
}

// EraseResult is what EraseTenant did.
type EraseResult struct {
	TenantID string    `json:"tenant_id"`
	ErasedAt time.Time `json:"erased_at"`
	// Already is true when the tenant had been erased before: the keys were
	// destroyed again (a no-op, or the end of an erasure a crash stopped).
	Already bool `json:"already"`
}

// EraseTenant erases a tenant by crypto-shredding (docs/ARCHITECTURE.md,
// decision 19): it appends tenant.data_erased to the tenant's profile stream,
// then destroys the tenant's data keys, so every sealed field of its events
// (item data, emails, password hashes, usage property values) is unreadable
// everywhere at once, backups of the store included. Envelopes, usage
// quantities, property hashes and issued invoices stay, so every issued
// invoice still audits. The caller then rebuilds the read models, which show
// the tenant erased (wire.Platform.EraseTenant does both). Platform admins
// only; idempotent. Errors: forbidden, not_found (no such tenant), invalid
// (a platform that seals nothing, keys nil).
func (s *Service) EraseTenant(ctx context.Context, m Meta, tenantID string, keys KeyShredder) (EraseResult, error) {
	if !m.Principal.Has(identity.RolePlatformAdmin) {
		return EraseResult{}, domain.Errorf(domain.CodeForbidden, "erasing a tenant needs the %s role", identity.RolePlatformAdmin)
	}
	if keys == nil {
		return EraseResult{}, domain.Errorf(domain.CodeInvalid, "this platform stores events without data keys, so it cannot erase by destroying them")
	}
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return EraseResult{}, err
	}
	for attempt := 0; ; attempt++ {
		res, retry, err := s.eraseOnce(ctx, m, tid, keys)
		if retry && attempt < 5 {
			continue // another erasure (or plan change) appended meanwhile
		}
		return res, err
	}
}

// eraseOnce reads the profile and appends the record at its exact version, so
// concurrent erasures record one erasure; retry is true on that conflict.
func (s *Service) eraseOnce(ctx context.Context, m Meta, tid events.TenantID, keys KeyShredder) (EraseResult, bool, error) {
	evs, err := s.Store.Load(ctx, tid, tenant.StreamID, 1)
	if errors.Is(err, events.ErrNotFound) {
		return EraseResult{}, false, domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return EraseResult{}, false, storeError("load tenant", err)
	}
	onboarded := false
	for _, ev := range evs {
		switch ev.Type {
		case tenant.TypeOnboarded:
			onboarded = true
		case tenant.TypeDataErased:
			p, err := events.DecodeAs[tenant.DataErased](schema.Registry, ev)
			if err != nil {
				return EraseResult{}, false, storeError("decode erasure", err)
			}
			// Destroy again: a crash may have stopped the first erasure
			// between its record and the keys.
			if err := keys.Erase(ctx, tid); err != nil {
				return EraseResult{}, false, storeError("destroy data keys", err)
			}
			s.forgetTenant(tid)
			return EraseResult{TenantID: string(tid), ErasedAt: p.At, Already: true}, false, nil
		}
	}
	if !onboarded {
		return EraseResult{}, false, domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	// The record goes first: if the keys cannot be destroyed now, a retry
	// finds it and destroys them; the reverse order could leave an erased
	// tenant without its record.
	at := s.Clock.Now().UTC()
	_, err = s.Store.Append(ctx, events.AppendRequest{Tenant: tid, Stream: tenant.StreamID, StreamType: tenant.StreamType,
		Expected: events.Exactly(evs[len(evs)-1].Version), CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
		Events: []events.NewEvent{newEvent(&tenant.DataErased{At: at})}})
	s.dropTenantState(tid)
	if errors.Is(err, events.ErrConcurrency) {
		return EraseResult{}, true, storeError("record the erasure", err)
	}
	if err != nil {
		return EraseResult{}, false, storeError("record the erasure", err)
	}
	if err := keys.Erase(ctx, tid); err != nil {
		return EraseResult{}, false, storeError("destroy data keys", err)
	}
	s.forgetTenant(tid)
	return EraseResult{TenantID: string(tid), ErasedAt: at}, false, nil
}

// forgetTenant drops what this process holds in clear of an erased tenant:
// its items, its roster (members' emails) and its cached state, so nothing
// is served from memory that the store can no longer open.
func (s *Service) forgetTenant(tid events.TenantID) {
	s.itemCache().forget(tid)
	c := s.rosters()
	c.mu.Lock()
	delete(c.m, tid)
	c.mu.Unlock()
	s.dropEntitlementState(tid)
}
