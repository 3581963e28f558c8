package projections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// TenantSummary is one row of the platform's tenant directory.
type TenantSummary struct {
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"tenant_name"`
	Plan      string    `json:"plan"`
	CreatedAt time.Time `json:"created_at"`
	Version   int64     `json:"version"`
	// Status is the tenant's lifecycle state (docs/lifecycle.md); "" in rows
	// written before states existed, which means active. TenantErased also
	// once the tenant's data keys were destroyed (decision 19).
	Status string `json:"status,omitempty"`
	// OffboardedAt is when offboarding started (zero: never).
	OffboardedAt time.Time `json:"offboarded_at,omitzero"`
}

// TenantErased is the Status of a tenant erased by crypto-shredding.
const TenantErased = "erased"

// Names under which the tenants projection keeps its read model.
const (
	TenantsProjection = "tenants"
	// TenantsCollection holds one TenantSummary per tenant under PlatformTenant,
	// keyed by tenant id.
	TenantsCollection = "tenants"
)

// Tenants keeps the platform-wide directory of tenants that scheduled jobs (period
// close) walk. It writes under PlatformTenant, keyed by tenant id.
type Tenants struct{}

func init() { Register(Tenants{}) }

// Name implements Projection.
func (Tenants) Name() string { return TenantsProjection }

// Handles implements Projection.
func (Tenants) Handles() []string {
	return []string{tenant.TypeOnboarded, tenant.TypePlanChanged, tenant.TypeDataErased,
		tenant.TypeSuspended, tenant.TypeReactivated, tenant.TypeOffboardingStarted, tenant.TypeErased}
}

// Apply implements Projection. Every event type it handles lives on the tenant's one profile
// stream, so folding in version order is all that is needed.
func (Tenants) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	p, err := schema.Registry.Decode(ev)
	if err != nil {
		return err
	}
	var s TenantSummary
	if raw, err := tx.Get(ctx, PlatformTenant, TenantsCollection, string(ev.TenantID)); err == nil {
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
	}
	switch e := p.(type) {
	case *tenant.Onboarded:
		s = TenantSummary{TenantID: e.TenantID, Name: e.Name, Plan: e.Plan, CreatedAt: e.At}
	case *tenant.PlanChanged:
		s.Plan = e.To
	case *tenant.Suspended:
		s.Status = tenant.StatusSuspended
	case *tenant.Reactivated:
		s.Status = tenant.StatusActive
	case *tenant.OffboardingStarted:
		s.Status, s.OffboardedAt = tenant.StatusOffboarding, e.At
	case *tenant.Erased:
		s.Status = tenant.StatusErased
	case *tenant.DataErased:
		s.Status = TenantErased
	}
	if ev.Erased {
		// A profile event whose sealed fields are gone: the tenant is erased
		// even if its tenant.data_erased has not been applied yet.
		s.Status = TenantErased
	}
	s.TenantID = string(ev.TenantID)
	s.Version = ev.Version
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tx.Put(ctx, PlatformTenant, TenantsCollection, string(ev.TenantID), b)
}
