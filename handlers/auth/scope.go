package auth

import (
	"context"

	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
)

// Scope returns ctx scoped to the principal's tenant (events.WithTenantScope), so
// the stores reach DynamoDB for the request only with that tenant's credentials
// and refuse other tenants' data (docs/ARCHITECTURE.md, decision 9d). Platform admins, who may
// act on any tenant (audited by the commands), and principals without a tenant
// keep ctx unscoped: the function's own role serves them, as it serves
// unauthenticated routes (onboarding, login).
func Scope(ctx context.Context, p ident.Principal) context.Context {
	if p.TenantID == "" || p.Has(ident.RolePlatformAdmin) {
		return ctx
	}
	return events.WithTenantScope(ctx, events.TenantID(p.TenantID))
}
