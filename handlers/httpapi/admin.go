package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// The operator plane (docs/api.md, "Operator routes"; docs/lifecycle.md).
// Every /admin/ route answers 403 to any principal but an operator: a tenant
// user of any role, an API key (routeScopes has no /admin/ route, so
// requireScope refuses keys first) and a platform_admin that names a tenant.
// The commands check the same again, so no other delivery bypasses it.

func init() {
	queryParams["GET /admin/tenants"] = []string{"name_prefix", "plan", "status", "created_after", "created_before", "limit", "after"}
	queryParams["GET /admin/tenants/{tenant_id}/audit-log"] = []string{"limit", "after"}
}

// adminRoutes registers the operator routes with handle (Handler's).
func (a *API) adminRoutes(handle func(pattern string, authed bool, h func(w http.ResponseWriter, r *http.Request) error)) {
	op := func(h func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			p := principalFrom(r.Context())
			if !p.Has(identity.RolePlatformAdmin) || p.TenantID != "" || p.KeyID != "" {
				return domain.Errorf(domain.CodeForbidden, "the /admin/ routes need an operator token (%s)", identity.RolePlatformAdmin)
			}
			return h(w, r)
		}
	}
	handle("GET /admin/tenants", true, op(a.adminTenants))
	handle("GET /admin/tenants/{tenant_id}", true, op(a.adminTenant))
	handle("GET /admin/tenants/{tenant_id}/usage", true, op(a.adminUsage))
	handle("GET /admin/tenants/{tenant_id}/invoices", true, op(a.adminInvoices))
	handle("GET /admin/tenants/{tenant_id}/audit-log", true, op(a.auditLog))
	handle("POST /admin/tenants/{tenant_id}/suspend", true, op(a.adminSuspend))
	handle("POST /admin/tenants/{tenant_id}/reactivate", true, op(a.adminReactivate))
	handle("POST /admin/tenants/{tenant_id}/offboard", true, op(a.adminOffboard))
	handle("PUT /admin/tenants/{tenant_id}/plan", true, op(a.adminPlan))
}

func queryTime(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, domain.FieldError(name, "must be an RFC 3339 time, such as 2026-12-01T00:00:00Z")
	}
	return t, nil
}

func (a *API) adminTenants(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		limit, err := queryInt(r, "limit", 100, commands.MaxAdminTenants)
		if err != nil {
			return nil, err
		}
		from, err := queryTime(r, "created_after")
		if err != nil {
			return nil, err
		}
		to, err := queryTime(r, "created_before")
		if err != nil {
			return nil, err
		}
		q := r.URL.Query()
		return a.Service.SearchTenants(r.Context(), m, commands.TenantFilter{NamePrefix: q.Get("name_prefix"), Plan: q.Get("plan"),
			Status: q.Get("status"), CreatedFrom: from, CreatedTo: to, After: q.Get("after"), Limit: limit})
	})(w, r)
}

func (a *API) adminTenant(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Service.TenantProfile(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

func (a *API) adminUsage(w http.ResponseWriter, r *http.Request) error {
	return a.billingSummary(w, r) // the billing summary, the operator as actor (logged)
}

func (a *API) adminInvoices(w http.ResponseWriter, r *http.Request) error {
	return a.invoices(w, r)
}

// LifecycleRequest is the body of POST /admin/tenants/{tenant_id}/suspend,
// /reactivate and /offboard (Erase: offboard only).
type LifecycleRequest struct {
	Reason string `json:"reason"`
	Erase  *bool  `json:"erase,omitempty"`
}

func (a *API) lifecycle(w http.ResponseWriter, r *http.Request, offboard bool, do func(m commands.Meta, id, reason string, erase bool) (tenant.Tenant, error)) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body LifecycleRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	if body.Erase != nil && !offboard {
		return domain.FieldError("erase", "is for /offboard only")
	}
	finishFingerprint(r, &m)
	t, err := do(m, r.PathValue("tenant_id"), body.Reason, body.Erase != nil && *body.Erase)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (a *API) adminSuspend(w http.ResponseWriter, r *http.Request) error {
	return a.lifecycle(w, r, false, func(m commands.Meta, id, reason string, _ bool) (tenant.Tenant, error) {
		return a.Service.SuspendTenant(r.Context(), m, id, reason)
	})
}

func (a *API) adminReactivate(w http.ResponseWriter, r *http.Request) error {
	return a.lifecycle(w, r, false, func(m commands.Meta, id, reason string, _ bool) (tenant.Tenant, error) {
		return a.Service.ReactivateTenant(r.Context(), m, id, reason)
	})
}

func (a *API) adminOffboard(w http.ResponseWriter, r *http.Request) error {
	return a.lifecycle(w, r, true, func(m commands.Meta, id, reason string, erase bool) (tenant.Tenant, error) {
		return a.Service.OffboardTenant(r.Context(), m, id, reason, erase)
	})
}

// AdminPlanRequest is the body of PUT /admin/tenants/{tenant_id}/plan.
type AdminPlanRequest struct {
	Plan    string `json:"plan"`
	Version int    `json:"version,omitempty"`
}

func (a *API) adminPlan(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body AdminPlanRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	if strings.TrimSpace(body.Plan) == "" {
		return domain.FieldError("plan", "is required")
	}
	finishFingerprint(r, &m)
	t, err := a.Service.OperatorPlan(r.Context(), m, r.PathValue("tenant_id"), body.Plan, body.Version)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}
