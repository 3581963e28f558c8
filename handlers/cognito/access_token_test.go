package cognito_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	cmdidentity "github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

// poolKeys is a user pool's signing key as moto serves it: RS256, kid "dummy",
// the JWKS at <endpoint>/<poolId>/.well-known/jwks.json (cognito.JWKSURL).
type poolKeys struct {
	key    *rsa.PrivateKey
	server *httptest.Server
}

const (
	testPool   = "eu-west-1_TESTPOOL"
	testClient = "1example23456789"
	testRegion = "eu-west-1"
	testTenant = "0196f2b4-0000-7000-8000-000000000001"
)

var (
	poolKeysOnce sync.Once
	poolKey      *rsa.PrivateKey
)

func newPoolKeys(t *testing.T) *poolKeys {
	t.Helper()
	poolKeysOnce.Do(func() {
		var err error
		if poolKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &poolKey.PublicKey, KeyID: "dummy", Algorithm: string(jose.RS256), Use: "sig"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+testPool+"/.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &poolKeys{key: poolKey, server: srv}
}

func (k *poolKeys) verifier(t *testing.T) *auth.Verifier {
	t.Helper()
	v, err := cognito.NewVerifier(cognito.VerifierConfig{Region: testRegion, UserPoolID: testPool, ClientIDs: []string{testClient},
		JWKSURL: cognito.JWKSURL(k.server.URL, testPool)})
	require.NoError(t, err)
	return v
}

func (k *poolKeys) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.key}, (&jose.SignerOptions{}).WithHeader("kid", "dummy").WithType("JWT"))
	require.NoError(t, err)
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

// accessClaims are a Cognito access token's claims after the pre token
// generation trigger (handlers/pretoken) added the tenant and the email.
func accessClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": cognito.IssuerURL(testRegion, testPool), "sub": "a36036a8-9061-424d-a737-56d57dae7bc6",
		"client_id": testClient, "token_use": "access", "scope": "aws.cognito.signin.user.admin",
		"username": cognito.Username(testTenant, "admin@acme.test"), "cognito:groups": []string{identity.RoleTenantAdmin},
		"custom:tenant_id": testTenant, "email": "admin@acme.test",
		"auth_time": now.Unix(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": "f0b1c2d3-0000-4000-8000-000000000001", "origin_jti": "f0b1c2d3-0000-4000-8000-000000000002",
	}
}

func edited(m map[string]any, edits map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range edits {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// tamper replaces the tenant in a signed token's payload, keeping its signature.
func tamper(t *testing.T, token, tenant string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	claims["custom:tenant_id"] = tenant
	raw, err = json.Marshal(claims)
	require.NoError(t, err)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

// The verifier on AWS accepts a Cognito access token that carries the tenant
// (its audience is client_id, not aud) and refuses the ones an attacker can
// make or find: without the tenant, for another app client, an access token's
// claims relabelled as an ID token, a tenant edited after signing, and the ID
// token's audience moved to a token claiming to be an access token.
func TestVerifierAcceptsAccessTokensWithTheTenant(t *testing.T) {
	t.Parallel()
	k := newPoolKeys(t)
	good := k.sign(t, accessClaims())
	cases := []struct {
		name  string
		token string
		cause error // nil: accepted
	}{
		{"access token with the tenant", good, nil},
		{"ID token of the same user", k.sign(t, edited(accessClaims(), map[string]any{"token_use": "id", "client_id": nil, "aud": testClient,
			"username": nil, "scope": nil, "cognito:username": cognito.Username(testTenant, "admin@acme.test")})), nil},
		{"access token without the tenant (no trigger)", k.sign(t, edited(accessClaims(), map[string]any{"custom:tenant_id": nil})), auth.ErrMissingClaim},
		{"access token with an empty tenant", k.sign(t, edited(accessClaims(), map[string]any{"custom:tenant_id": ""})), auth.ErrMissingClaim},
		{"access token for another client id", k.sign(t, edited(accessClaims(), map[string]any{"client_id": "another-client"})), auth.ErrWrongAudience},
		{"access token without client_id", k.sign(t, edited(accessClaims(), map[string]any{"client_id": nil})), auth.ErrWrongAudience},
		{"access token naming the client in aud only", k.sign(t, edited(accessClaims(), map[string]any{"client_id": nil, "aud": testClient})), auth.ErrWrongAudience},
		{"token_use id with an access token's claims", k.sign(t, edited(accessClaims(), map[string]any{"token_use": "id"})), auth.ErrWrongAudience},
		{"tampered tenant claim", tamper(t, good, "0196f2b4-0000-7000-8000-00000000beef"), auth.ErrBadSignature},
		{"another pool's issuer", k.sign(t, edited(accessClaims(), map[string]any{"iss": cognito.IssuerURL(testRegion, "eu-west-1_OTHER")})), auth.ErrWrongIssuer},
		{"refresh token use", k.sign(t, edited(accessClaims(), map[string]any{"token_use": "refresh"})), auth.ErrWrongTokenUse},
		{"expired", k.sign(t, edited(accessClaims(), map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()})), auth.ErrExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := k.verifier(t).Verify(context.Background(), tc.token)
			if tc.cause == nil {
				require.NoError(t, err)
				assert.Equal(t, testTenant, p.TenantID)
				assert.Equal(t, []string{identity.RoleTenantAdmin}, p.Roles)
				assert.Equal(t, "admin@acme.test", p.Email, "the trigger's email reaches the principal (the password change needs it)")
				assert.Equal(t, cognito.Username(testTenant, "admin@acme.test"), p.Username, "access tokens name the user in username")
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.cause)
			assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
			assert.Empty(t, p.TenantID)
		})
	}
}

// moto runs no triggers, so its access tokens are what a pool without the
// pre token generation trigger issues: no tenant, refused. Its ID tokens,
// which existing clients send, still pass.
func TestMotoAccessTokenWithoutTriggerIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "Acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	tok, err := e.logins.Login(ctx, commands.Login{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"})
	require.NoError(t, err)

	var claims map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.AccessToken, ".")[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &claims))
	require.Equal(t, "access", claims["token_use"])
	require.NotContains(t, claims, "custom:tenant_id", "moto ran no trigger: if it starts to, this test should use its tokens as the passing case")

	_, err = e.ver.Verify(ctx, tok.AccessToken)
	require.ErrorIs(t, err, auth.ErrMissingClaim)
	p, err := e.ver.Verify(ctx, tok.IDToken)
	require.NoError(t, err, "ID tokens still work for existing clients")
	assert.NotEmpty(t, p.TenantID)
}
