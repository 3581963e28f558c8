package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/auth"
)

func TestScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		p      ident.Principal
		scoped events.TenantID // "" unscoped
	}{
		{"tenant admin", ident.Principal{TenantID: "t1", Roles: []string{ident.RoleTenantAdmin}}, "t1"},
		{"tenant member", ident.Principal{TenantID: "t1", Roles: []string{ident.RoleTenantMember}}, "t1"},
		{"no role", ident.Principal{TenantID: "t1"}, "t1"},
		{"platform admin of no tenant", ident.Principal{Roles: []string{ident.RolePlatformAdmin}}, ""},
		{"platform admin with a tenant", ident.Principal{TenantID: "t1", Roles: []string{ident.RoleTenantAdmin, ident.RolePlatformAdmin}}, ""},
		{"no tenant", ident.Principal{UserID: "u"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := events.TenantScope(auth.Scope(context.Background(), tt.p))
			assert.Equal(t, tt.scoped != "", ok)
			assert.Equal(t, tt.scoped, got)
		})
	}
}

type fixedVerifier ident.Principal

func (f fixedVerifier) Verify(context.Context, string) (ident.Principal, error) {
	return ident.Principal(f), nil
}

func TestAuthenticateScopesTheRequest(t *testing.T) {
	t.Parallel()
	var scope events.TenantID
	var scoped bool
	h := auth.Middleware(auth.Bearer(fixedVerifier{TenantID: "t1", Roles: []string{ident.RoleTenantMember}}), nil, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope, scoped = events.TenantScope(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest(http.MethodGet, "/tenants/t1", nil)
	r.Header.Set("Authorization", "Bearer x")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.True(t, scoped)
	assert.Equal(t, events.TenantID("t1"), scope)
}
