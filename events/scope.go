package events

import (
	"context"
	"errors"
	"fmt"
)

// ErrOutOfScope: an operation in a request scoped to one tenant (WithTenantScope)
// targets another tenant's data, or data of no single tenant (ReadAll). Stores that
// act with tenant-scoped credentials (docs/ARCHITECTURE.md, decision 9d) refuse it before calling
// the database; it means a bug, never a client error.
var ErrOutOfScope = errors.New("events: operation outside the request's tenant scope")

type scopeKey struct{}

// WithTenantScope returns ctx scoped to tenant: stores that support it reach the
// database for this context only with that tenant's credentials and refuse
// operations on other tenants. The HTTP layer sets it after authentication for a
// tenant principal; platform work (projectors, billing, onboarding, login, the
// CLI, platform admins) runs unscoped.
func WithTenantScope(ctx context.Context, tenant TenantID) context.Context {
	return context.WithValue(ctx, scopeKey{}, tenant)
}

// TenantScope returns the tenant ctx is scoped to, if any.
func TenantScope(ctx context.Context) (TenantID, bool) {
	t, ok := ctx.Value(scopeKey{}).(TenantID)
	return t, ok
}

// CheckScope returns nil when ctx is unscoped or scoped to tenant, and an error
// wrapping ErrOutOfScope otherwise.
func CheckScope(ctx context.Context, tenant TenantID) error {
	if s, ok := TenantScope(ctx); ok && s != tenant {
		return fmt.Errorf("tenant %q in a request scoped to tenant %q: %w", tenant, s, ErrOutOfScope)
	}
	return nil
}

// CheckUnscoped returns an error wrapping ErrOutOfScope when ctx is scoped to a
// tenant; what names the operation that only platform work may run.
func CheckUnscoped(ctx context.Context, what string) error {
	if s, ok := TenantScope(ctx); ok {
		return fmt.Errorf("%s in a request scoped to tenant %q: %w", what, s, ErrOutOfScope)
	}
	return nil
}

// WithoutTenantScope returns ctx with no tenant scope, for the one platform read
// a tenant's request makes: the price book, platform data every tenant's bill
// is rated with (docs/ARCHITECTURE.md, decision 14). Use it for nothing else.
func WithoutTenantScope(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, nil)
}
