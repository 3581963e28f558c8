package httpapi

import (
	"net/http"

	"github.com/tenantstream/tenantstream/commands"
)

// entitlements answers every feature of the tenant's plan version and
// overrides (docs/api.md, "Entitlements"): a member's token, or an API key of
// the tenant with billing:read, the check a tenant's backend makes before paid work.
func (a *API) entitlements(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Service.Entitlements(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

// entitlement answers one feature; an unknown feature is a 404 problem.
func (a *API) entitlement(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Service.Entitlement(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("feature"))
	})(w, r)
}
