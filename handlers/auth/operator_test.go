package auth_test

import (
	"context"
	"os"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/auth"
)

// A token of the tenants' issuer (or pool) can never be an operator's, and an
// operator pool's verifier takes nothing else (docs/ARCHITECTURE.md, decision 21).
func TestPlatformAdminOnlyFromAnOperatorVerifier(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	k, _ := keys(t)
	static, err := auth.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.PublicJWK()}})
	require.NoError(t, err)
	tenants := newVerifier(t, t0)
	ops, err := auth.NewVerifier(auth.Config{Issuer: issuerURL, ClientIDs: []string{clientID}, Keys: static, Clock: clock.Fixed(t0), PlatformAdmins: true})
	require.NoError(t, err)
	admin := with(validClaims(t0), "cognito:groups", []string{"platform_admin"})
	tests := []struct {
		name   string
		v      *auth.Verifier
		claims map[string]any
		ok     bool
	}{
		{"tenant token on the tenants' verifier", tenants, validClaims(t0), true},
		{"platform_admin with a tenant on the tenants' verifier", tenants, admin, false},
		{"platform_admin without a tenant on the tenants' verifier", tenants, with(admin, "custom:tenant_id", nil), false},
		{"platform_admin among other groups", tenants, with(validClaims(t0), "cognito:groups", []string{"tenant_admin", "platform_admin"}), false},
		{"operator on the operators' verifier", ops, with(admin, "custom:tenant_id", nil), true},
		{"operator naming a tenant", ops, admin, false},
		{"tenant token on the operators' verifier", ops, validClaims(t0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.v.Verify(context.Background(), signClaims(t, k, tc.claims))
			if !tc.ok {
				assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
				return
			}
			require.NoError(t, err)
			if tc.v == ops {
				assert.True(t, p.Has(ident.RolePlatformAdmin))
				assert.Empty(t, p.TenantID)
			}
		})
	}
}

func TestWithOperatorsRoutesByPrefix(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	key, err := identity.LoadOrCreateOperatorKey(dir)
	require.NoError(t, err)
	tok, _, err := key.Mint("alice", time.Hour, t0)
	require.NoError(t, err)
	tenants := newVerifier(t, t0)
	v := auth.WithOperators(tenants, key.Verifier(clock.Fixed(t0)))
	p, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, ident.Principal{UserID: "operator:alice", Roles: []string{ident.RolePlatformAdmin}}, p)
	k, _ := keys(t)
	p, err = v.Verify(context.Background(), signClaims(t, k, validClaims(t0)))
	require.NoError(t, err)
	assert.Equal(t, "tenant-a", p.TenantID)

	_, err = auth.WithOperators(tenants, nil).Verify(context.Background(), tok)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "a server without operator tokens refuses them")
	_, err = tenants.Verify(context.Background(), tok)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "the JWT verifier never accepts an operator token")
}

// ByIssuer picks the verifier by the token's issuer, and the one it picks
// checks everything: a token naming the operators' issuer but signed with
// the tenants' key is refused.
func TestByIssuer(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tenantKey, opKey := keys(t)
	const opIssuer = "https://cognito-idp.eu-west-1.amazonaws.com/ops"
	opKeys, err := auth.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{opKey.PublicJWK()}})
	require.NoError(t, err)
	ops, err := auth.NewVerifier(auth.Config{Issuer: opIssuer, ClientIDs: []string{"ops-client"}, Keys: opKeys, Clock: clock.Fixed(t0), PlatformAdmins: true})
	require.NoError(t, err)
	v := auth.ByIssuer(map[string]auth.TokenVerifier{opIssuer: ops}, newVerifier(t, t0))
	opClaims := map[string]any{"iss": opIssuer, "sub": "op-1", "token_use": "access", "client_id": "ops-client",
		"cognito:groups": []string{"platform_admin"}, "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}

	p, err := v.Verify(context.Background(), signClaims(t, opKey, opClaims))
	require.NoError(t, err)
	assert.True(t, p.Has(ident.RolePlatformAdmin))
	p, err = v.Verify(context.Background(), signClaims(t, tenantKey, validClaims(t0)))
	require.NoError(t, err)
	assert.Equal(t, "tenant-a", p.TenantID)

	for name, tok := range map[string]string{
		"operators' issuer, tenants' key":         signClaims(t, tenantKey, opClaims),
		"operators' issuer, a tenant's claims":    signClaims(t, opKey, with(opClaims, "custom:tenant_id", "tenant-a")),
		"tenants' issuer, operators' key":         signClaims(t, opKey, validClaims(t0)),
		"tenants' issuer claiming platform_admin": signClaims(t, tenantKey, with(validClaims(t0), "cognito:groups", []string{"platform_admin"})),
		"garbage": "a.b.c",
	} {
		_, err := v.Verify(context.Background(), tok)
		assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), name)
	}
}
