package commands

import (
	"context"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// TenantFilter selects tenants for GET /admin/tenants; zero fields select all.
type TenantFilter struct {
	NamePrefix string // case-insensitive
	Plan       string
	Status     string
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound created_at.
	CreatedFrom, CreatedTo time.Time
	After                  string // a tenant id: the page starts after it
	Limit                  int
}

// TenantPage is a page of the tenant directory. NextCursor is "" on the last page.
type TenantPage struct {
	Tenants    []projections.TenantSummary `json:"tenants"`
	NextCursor string                      `json:"next_cursor"`
}

// MaxAdminTenants is the largest page of GET /admin/tenants.
const MaxAdminTenants = 500

// adminScanRows bounds how many directory rows one page reads, so a filter
// that matches little answers in bounded time: the page is then short and
// NextCursor says where to go on.
const adminScanRows = 5000

var tenantStatuses = map[string]bool{tenant.StatusActive: true, tenant.StatusSuspended: true, tenant.StatusOffboarding: true, tenant.StatusErased: true}

// SearchTenants pages through the tenant directory in id order with the
// filter (operators only). It reads the tenants read model, which trails the
// store by the projection lag.
func (s *Service) SearchTenants(ctx context.Context, m Meta, f TenantFilter) (TenantPage, error) {
	if err := requireOperator(m); err != nil {
		return TenantPage{}, err
	}
	if f.Status != "" && !tenantStatuses[f.Status] {
		return TenantPage{}, domain.FieldError("status", "must be one of active, suspended, offboarding, erased")
	}
	if f.After != "" && events.TenantID(f.After).Validate() != nil {
		return TenantPage{}, domain.FieldError("after", "is not a cursor of this list")
	}
	if len(f.NamePrefix) > 63 || len(f.Plan) > 64 {
		return TenantPage{}, domain.FieldError("name_prefix", "is too long")
	}
	if f.Limit <= 0 || f.Limit > MaxAdminTenants {
		f.Limit = 100
	}
	prefix := tenant.NameKey(f.NamePrefix)
	page := TenantPage{Tenants: []projections.TenantSummary{}}
	after, scanned := f.After, 0
	for {
		rows, err := s.ListTenants(ctx, after, tenantPage)
		if err != nil {
			return TenantPage{}, err
		}
		for _, t := range rows {
			scanned++
			after = t.TenantID
			if t.Status == "" {
				t.Status = tenant.StatusActive
			}
			if strings.HasPrefix(tenant.NameKey(t.Name), prefix) && (f.Plan == "" || t.Plan == f.Plan) &&
				(f.Status == "" || t.Status == f.Status) &&
				(f.CreatedFrom.IsZero() || !t.CreatedAt.Before(f.CreatedFrom)) &&
				(f.CreatedTo.IsZero() || t.CreatedAt.Before(f.CreatedTo)) {
				page.Tenants = append(page.Tenants, t)
			}
			if len(page.Tenants) == f.Limit || scanned >= adminScanRows {
				page.NextCursor = after
				return page, nil
			}
		}
		if len(rows) < tenantPage {
			return page, nil
		}
	}
}

// TenantProfile is GET /admin/tenants/{tenant_id}: the profile with its
// state and how many active members it has.
type TenantProfile struct {
	tenant.Tenant
	MemberCount int `json:"member_count"`
}

// TenantProfile folds the tenant's profile (always current) and counts its
// active members (operators only).
func (s *Service) TenantProfile(ctx context.Context, m Meta, tenantID string) (TenantProfile, error) {
	if err := requireOperator(m); err != nil {
		return TenantProfile{}, err
	}
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return TenantProfile{}, err
	}
	t, err := s.loadTenant(ctx, tid)
	if err != nil {
		return TenantProfile{}, err
	}
	r, err := s.roster(ctx, tid)
	if err != nil {
		return TenantProfile{}, err
	}
	n := 0
	for _, mem := range r.Members() {
		if mem.Active {
			n++
		}
	}
	return TenantProfile{Tenant: t, MemberCount: n}, nil
}

// OperatorPlan is PUT /admin/tenants/{tenant_id}/plan: another plan (its
// latest version, as ChangePlan), or with Version a migration to that version
// of the plan the tenant is on (MigratePlan).
func (s *Service) OperatorPlan(ctx context.Context, m Meta, tenantID, plan string, version int) (tenant.Tenant, error) {
	if err := requireOperator(m); err != nil {
		return tenant.Tenant{}, err
	}
	if version < 0 {
		return tenant.Tenant{}, domain.FieldError("version", "must be positive")
	}
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return tenant.Tenant{}, err
	}
	t, err := s.tenantState(ctx, tid)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if version > 0 || t.Plan == plan {
		return s.MigratePlan(ctx, m, tenantID, plan, version, time.Time{})
	}
	return s.ChangePlan(ctx, m, tenantID, plan)
}
