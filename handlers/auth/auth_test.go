package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

const (
	issuerURL = "http://localhost:8080"
	clientID  = "local-client"
)

var (
	t0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	keysOnce sync.Once
	key      *identity.SigningKey
	otherKey *identity.SigningKey
)

func keys(t testing.TB) (*identity.SigningKey, *identity.SigningKey) {
	keysOnce.Do(func() {
		var err error
		if key, err = identity.GenerateSigningKey(); err != nil {
			panic(err)
		}
		if otherKey, err = identity.GenerateSigningKey(); err != nil {
			panic(err)
		}
	})
	return key, otherKey
}

func issue(t testing.TB, url, client string, k *identity.SigningKey, at time.Time) identity.Tokens {
	t.Helper()
	is, err := identity.NewIssuer(identity.IssuerConfig{URL: url, ClientID: client, Key: k, Clock: clock.Fixed(at)})
	require.NoError(t, err)
	toks, err := is.Issue(ident.Principal{TenantID: "tenant-a", UserID: "user-1", Email: "a@example.com", Roles: []string{ident.RoleTenantAdmin}})
	require.NoError(t, err)
	return toks
}

func newVerifier(t testing.TB, now time.Time, uses ...string) *auth.Verifier {
	t.Helper()
	k, _ := keys(t)
	static, err := auth.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.PublicJWK()}})
	require.NoError(t, err)
	v, err := auth.NewVerifier(auth.Config{Issuer: issuerURL, ClientIDs: []string{clientID}, Keys: static, Clock: clock.Fixed(now), TokenUses: uses})
	require.NoError(t, err)
	return v
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signClaims signs arbitrary claims with k, for tokens the issuer would never make.
func signClaims(t testing.TB, k *identity.SigningKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.Private}, (&jose.SignerOptions{}).WithHeader("kid", k.ID))
	require.NoError(t, err)
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

func validClaims(at time.Time) map[string]any {
	return map[string]any{
		"iss": issuerURL, "sub": "user-1", "token_use": "access", "client_id": clientID,
		"custom:tenant_id": "tenant-a", "cognito:groups": []string{"tenant_admin"},
		"iat": at.Unix(), "exp": at.Add(time.Hour).Unix(),
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestVerifyAdversarialTokens(t *testing.T) {
	t.Parallel()
	k, other := keys(t)
	good := issue(t, issuerURL, clientID, k, t0)
	parts := strings.Split(good.AccessToken, ".")

	// Tampered payload: same signature, tenant changed to another tenant's.
	var payload map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &payload))
	payload["custom:tenant_id"] = "tenant-b"
	tamperedPayload := parts[0] + "." + b64(payload) + "." + parts[2]

	sig := []byte(parts[2])
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)

	algNone := b64(map[string]string{"alg": "none", "kid": k.ID}) + "." + parts[1] + "."
	algNoneCase := b64(map[string]string{"alg": "NONE", "kid": k.ID}) + "." + parts[1] + "."

	// HS256 with the public key bytes as the HMAC secret: the classic key-confusion attack.
	pubDER, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	require.NoError(t, err)
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, (&jose.SignerOptions{}).WithHeader("kid", k.ID))
	require.NoError(t, err)
	hsTok, err := jwt.Signed(hs).Claims(payload).Serialize()
	require.NoError(t, err)

	ps256, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: k.Private}, (&jose.SignerOptions{}).WithHeader("kid", k.ID))
	require.NoError(t, err)
	psTok, err := jwt.Signed(ps256).Claims(validClaims(t0)).Serialize()
	require.NoError(t, err)

	now := t0.Add(time.Minute)
	cases := []struct {
		name  string
		token string
		now   time.Time
		cause error // nil = accepted
	}{
		{"valid access token", good.AccessToken, now, nil},
		{"valid id token", good.IDToken, now, nil},
		{"within leeway after exp", good.AccessToken, t0.Add(identity.DefaultTokenTTL + 20*time.Second), nil},
		{"missing", "", now, auth.ErrMissingToken},
		{"malformed one part", "abc", now, auth.ErrMalformedToken},
		{"malformed three parts", "a.b.c", now, auth.ErrMalformedToken},
		{"malformed four parts", good.AccessToken + ".x", now, auth.ErrMalformedToken},
		{"header not json", b64("x") + "." + parts[1] + "." + parts[2], now, auth.ErrMalformedToken},
		{"too long", strings.Repeat("a", 9000), now, auth.ErrMalformedToken},
		{"expired", good.AccessToken, t0.Add(2 * time.Hour), auth.ErrExpired},
		{"issued in the future", issue(t, issuerURL, clientID, k, t0.Add(time.Hour)).AccessToken, now, auth.ErrNotYetValid},
		{"not yet valid nbf", signClaims(t, k, with(validClaims(t0), "nbf", t0.Add(10*time.Minute).Unix())), now, auth.ErrNotYetValid},
		{"tampered payload", tamperedPayload, now, auth.ErrBadSignature},
		{"tampered signature", tamperedSig, now, auth.ErrBadSignature},
		{"alg none", algNone, now, auth.ErrUnsupportedAlg},
		{"alg NONE", algNoneCase, now, auth.ErrUnsupportedAlg},
		{"HS256 with public key bytes", hsTok, now, auth.ErrUnsupportedAlg},
		{"PS256 with the right key", psTok, now, auth.ErrUnsupportedAlg},
		{"wrong issuer", issue(t, "http://evil.example", clientID, k, t0).AccessToken, now, auth.ErrWrongIssuer},
		{"issuer with trailing slash", signClaims(t, k, with(validClaims(t0), "iss", issuerURL+"/")), now, auth.ErrWrongIssuer},
		{"wrong client id (access)", issue(t, issuerURL, "other-client", k, t0).AccessToken, now, auth.ErrWrongAudience},
		{"wrong audience (id)", issue(t, issuerURL, "other-client", k, t0).IDToken, now, auth.ErrWrongAudience},
		{"unknown kid", issue(t, issuerURL, clientID, other, t0).AccessToken, now, auth.ErrUnknownKey},
		{"refresh token used as access token", signClaims(t, k, with(validClaims(t0), "token_use", "refresh")), now, auth.ErrWrongTokenUse},
		{"no token_use", signClaims(t, k, with(validClaims(t0), "token_use", nil)), now, auth.ErrWrongTokenUse},
		{"no exp", signClaims(t, k, with(validClaims(t0), "exp", nil)), now, auth.ErrMissingClaim},
		{"no iat", signClaims(t, k, with(validClaims(t0), "iat", nil)), now, auth.ErrMissingClaim},
		{"no sub", signClaims(t, k, with(validClaims(t0), "sub", nil)), now, auth.ErrMissingClaim},
		{"no tenant", signClaims(t, k, with(validClaims(t0), "custom:tenant_id", nil)), now, auth.ErrMissingClaim},
		{"groups not a list", signClaims(t, k, with(validClaims(t0), "cognito:groups", "tenant_admin")), now, auth.ErrMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := newVerifier(t, tc.now).Verify(context.Background(), tc.token)
			if tc.cause == nil {
				require.NoError(t, err)
				assert.Equal(t, ident.Principal{TenantID: "tenant-a", UserID: "user-1", Email: p.Email, Username: p.Username, Roles: []string{"tenant_admin"}}, p)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.cause)
			assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
			assert.Empty(t, p.TenantID)
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			if tc.cause == auth.ErrWrongIssuer {
				// Our signature on another issuer URL: the server moved; say so.
				assert.Contains(t, de.Message, "Issuer mismatch")
				assert.Contains(t, de.Message, issuerURL)
			} else {
				assert.NotContains(t, de.Message, "Issuer mismatch")
			}
		})
	}
}

func TestVerifyTokenUseConfig(t *testing.T) {
	t.Parallel()
	k, _ := keys(t)
	good := issue(t, issuerURL, clientID, k, t0)
	v := newVerifier(t, t0, "access")
	_, err := v.Verify(context.Background(), good.AccessToken)
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), good.IDToken)
	assert.ErrorIs(t, err, auth.ErrWrongTokenUse)

	p, err := newVerifier(t, t0, "id").Verify(context.Background(), good.IDToken)
	require.NoError(t, err)
	assert.Equal(t, "a@example.com", p.Email)

	_, err = auth.NewVerifier(auth.Config{Issuer: issuerURL, ClientIDs: []string{clientID}, Keys: auth.StaticKeys{}, TokenUses: []string{"refresh"}})
	assert.Error(t, err, "refresh tokens must never authenticate requests")
}

func TestPrincipalFromClaims(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		claims map[string]string
		want   ident.Principal
		cause  error
	}{
		{"api gateway groups", map[string]string{"sub": "u", "token_use": "access", "custom:tenant_id": "t", "cognito:groups": "[tenant_admin tenant_member]"},
			ident.Principal{TenantID: "t", UserID: "u", Roles: []string{"tenant_admin", "tenant_member"}}, nil},
		{"json groups", map[string]string{"sub": "u", "token_use": "id", "email": "e@x", "custom:tenant_id": "t", "cognito:groups": `["tenant_member"]`},
			ident.Principal{TenantID: "t", UserID: "u", Email: "e@x", Roles: []string{"tenant_member"}}, nil},
		{"single group", map[string]string{"sub": "u", "token_use": "access", "custom:tenant_id": "t", "cognito:groups": "tenant_member"},
			ident.Principal{TenantID: "t", UserID: "u", Roles: []string{"tenant_member"}}, nil},
		{"no groups", map[string]string{"sub": "u", "token_use": "access", "custom:tenant_id": "t"},
			ident.Principal{TenantID: "t", UserID: "u"}, nil},
		{"platform admin without tenant", map[string]string{"sub": "u", "token_use": "access", "cognito:groups": "[platform_admin]"},
			ident.Principal{UserID: "u", Roles: []string{"platform_admin"}}, nil},
		{"refresh", map[string]string{"sub": "u", "token_use": "refresh", "custom:tenant_id": "t"}, ident.Principal{}, auth.ErrWrongTokenUse},
		{"no tenant", map[string]string{"sub": "u", "token_use": "access"}, ident.Principal{}, auth.ErrMissingClaim},
		{"no sub", map[string]string{"token_use": "access", "custom:tenant_id": "t"}, ident.Principal{}, auth.ErrMissingClaim},
		{"unbalanced", map[string]string{"sub": "u", "token_use": "access", "custom:tenant_id": "t", "cognito:groups": "[a b"}, ident.Principal{}, auth.ErrMalformedToken},
		{"bad json", map[string]string{"sub": "u", "token_use": "access", "custom:tenant_id": "t", "cognito:groups": `["a",`}, ident.Principal{}, auth.ErrMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := auth.PrincipalFromClaims(tc.claims)
			if tc.cause != nil {
				assert.ErrorIs(t, err, tc.cause)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p)
		})
	}
}

func TestAuthenticateMiddleware(t *testing.T) {
	t.Parallel()
	k, _ := keys(t)
	good := issue(t, issuerURL, clientID, k, t0)
	v := newVerifier(t, t0.Add(time.Minute))
	var seen ident.Principal
	h := auth.Middleware(auth.Bearer(v), nil, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		require.True(t, ok)
		seen = p
		w.WriteHeader(http.StatusNoContent)
	}))
	expired := newVerifier(t, t0.Add(3*time.Hour))
	hExpired := auth.Middleware(auth.Bearer(expired), nil, nil)(http.NotFoundHandler())

	cases := []struct {
		name      string
		handler   http.Handler
		header    []string
		status    int
		challenge string
	}{
		{"ok", h, []string{"Bearer " + good.AccessToken}, 204, ""},
		{"ok lower-case scheme", h, []string{"bearer " + good.AccessToken}, 204, ""},
		{"missing", h, nil, 401, `Bearer realm="tenantstream"`},
		{"empty bearer", h, []string{"Bearer "}, 401, `Bearer realm="tenantstream"`},
		{"basic scheme", h, []string{"Basic dXNlcjpwYXNz"}, 401, `Bearer realm="tenantstream", error="invalid_token", error_description="invalid token"`},
		{"two headers", h, []string{"Bearer " + good.AccessToken, "Bearer x"}, 401, `Bearer realm="tenantstream", error="invalid_token", error_description="invalid token"`},
		{"garbage", h, []string{"Bearer a.b.c"}, 401, `Bearer realm="tenantstream", error="invalid_token", error_description="invalid token"`},
		{"expired", hExpired, []string{"Bearer " + good.AccessToken}, 401, `Bearer realm="tenantstream", error="invalid_token", error_description="token expired"`},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "/tenants/tenant-a", nil)
		for _, v := range tc.header {
			r.Header.Add("Authorization", v)
		}
		w := httptest.NewRecorder()
		tc.handler.ServeHTTP(w, r)
		assert.Equal(t, tc.status, w.Code, tc.name)
		assert.Equal(t, tc.challenge, w.Header().Get("WWW-Authenticate"), tc.name)
		if tc.status == 401 {
			assert.Equal(t, problem.ContentType, w.Header().Get("Content-Type"), tc.name)
			var p problem.Problem
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p), tc.name)
			assert.Equal(t, 401, p.Status)
			assert.Equal(t, domain.CodeUnauthenticated, p.Code)
		}
	}
	assert.Equal(t, "tenant-a", seen.TenantID)
	_, ok := auth.PrincipalFrom(context.Background())
	assert.False(t, ok)
}

func TestWellKnownHandlers(t *testing.T) {
	t.Parallel()
	k, _ := keys(t)
	is, err := identity.NewIssuer(identity.IssuerConfig{URL: issuerURL, ClientID: clientID, Key: k})
	require.NoError(t, err)
	// Passing the private JWK by mistake must still publish only the public part.
	priv := jose.JSONWebKey{Key: k.Private, KeyID: k.ID, Algorithm: "RS256", Use: "sig"}
	jwks, err := auth.JWKSHandler(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{priv}})
	require.NoError(t, err)
	oidc, err := auth.OpenIDConfigurationHandler(is.OpenIDConfiguration())
	require.NoError(t, err)

	w := httptest.NewRecorder()
	jwks.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "public, max-age=3600", w.Header().Get("Cache-Control"))
	assert.NotContains(t, w.Body.String(), `"d"`)
	assert.NotContains(t, w.Body.String(), `"p"`)
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &set))
	require.Len(t, set.Keys, 1)
	assert.Equal(t, k.ID, set.Keys[0].KeyID)

	// The published set verifies tokens: the round trip an external client makes.
	static, err := auth.NewStaticKeys(set)
	require.NoError(t, err)
	v, err := auth.NewVerifier(auth.Config{Issuer: issuerURL, ClientIDs: []string{clientID}, Keys: static, Clock: clock.Fixed(t0)})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), issue(t, issuerURL, clientID, k, t0).AccessToken)
	require.NoError(t, err)

	etag := w.Header().Get("ETag")
	r := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	jwks.ServeHTTP(w, r)
	assert.Equal(t, http.StatusNotModified, w.Code)

	w = httptest.NewRecorder()
	jwks.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))

	w = httptest.NewRecorder()
	oidc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	require.Equal(t, 200, w.Code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	assert.Equal(t, issuerURL, doc["issuer"])
	assert.Equal(t, issuerURL+"/.well-known/jwks.json", doc["jwks_uri"])
	assert.Equal(t, []any{"RS256"}, doc["id_token_signing_alg_values_supported"])
}

func TestRemoteJWKSRefreshIsRateLimited(t *testing.T) {
	t.Parallel()
	k, other := keys(t)
	var fetches atomic.Int32
	var mu sync.Mutex
	published := []jose.JSONWebKey{k.PublicJWK()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: published})
	}))
	defer srv.Close()
	clk := clock.NewTest(t0)
	remote := &auth.RemoteJWKS{URL: srv.URL, Client: srv.Client(), Clock: clk, MinRefresh: time.Minute}
	ctx := context.Background()

	_, err := remote.Key(ctx, k.ID)
	require.NoError(t, err)
	_, err = remote.Key(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(1), fetches.Load(), "cached")

	// A flood of unknown kids costs one fetch per MinRefresh, not one per token.
	for range 20 {
		_, err = remote.Key(ctx, "random-kid")
		assert.ErrorIs(t, err, auth.ErrUnknownKey)
	}
	assert.Equal(t, int32(1), fetches.Load())

	// Key rotation: the new kid is found once the refresh window has passed.
	mu.Lock()
	published = append(published, other.PublicJWK())
	mu.Unlock()
	require.NoError(t, clk.Set(t0.Add(2*time.Minute)))
	_, err = remote.Key(ctx, other.ID)
	require.NoError(t, err)
	assert.Equal(t, int32(2), fetches.Load())

	// An unreachable IdP with nothing cached is unavailable, not the client's fault.
	dead := &auth.RemoteJWKS{URL: "http://127.0.0.1:1/jwks", Clock: clk}
	v, err := auth.NewVerifier(auth.Config{Issuer: issuerURL, ClientIDs: []string{clientID}, Keys: dead, Clock: clock.Fixed(t0)})
	require.NoError(t, err)
	_, err = v.Verify(ctx, issue(t, issuerURL, clientID, k, t0).AccessToken)
	assert.Equal(t, domain.CodeUnavailable, domain.ErrorCode(err))
}

// FuzzVerify feeds arbitrary strings to the token parser: no panic, and nothing
// accepted may name anyone but the one principal the issuer signed for. (Byte-level
// variants of a real token, such as non-canonical base64 tails, decode to the same
// signed bytes and are harmless.)
func FuzzVerify(f *testing.F) {
	k, _ := keys(f)
	good := issue(f, issuerURL, clientID, k, t0)
	for _, s := range []string{good.AccessToken, good.IDToken, signClaims(f, k, with(validClaims(t0), "token_use", "refresh")), "", "a.b.c", "..", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.",
		good.AccessToken[:len(good.AccessToken)/2], strings.Replace(good.AccessToken, ".", "..", 1)} {
		f.Add(s)
	}
	v := newVerifier(f, t0.Add(time.Minute))
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(context.Background(), token)
		if err == nil {
			if p.TenantID != "tenant-a" || p.UserID != "user-1" || len(p.Roles) != 1 || p.Roles[0] != "tenant_admin" {
				t.Fatalf("accepted a forged identity: %q -> %+v", token, p)
			}
			return
		}
		if domain.ErrorCode(err) != domain.CodeUnauthenticated {
			t.Fatalf("want unauthenticated, got %v", err)
		}
	})
}

func TestVerifyCacheHonoursExpiry(t *testing.T) {
	t.Parallel()
	k, _ := keys(t)
	good := issue(t, issuerURL, clientID, k, t0)
	static, err := auth.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.PublicJWK()}})
	require.NoError(t, err)
	clk := clock.NewTest(t0.Add(time.Minute))
	v, err := auth.NewVerifier(auth.Config{Issuer: issuerURL, ClientIDs: []string{clientID}, Keys: static, Clock: clk})
	require.NoError(t, err)
	p1, err := v.Verify(context.Background(), good.AccessToken)
	require.NoError(t, err)
	p1.Roles[0] = "platform_admin" // must not poison the cache
	p2, err := v.Verify(context.Background(), good.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, []string{"tenant_admin"}, p2.Roles)

	require.NoError(t, clk.Set(t0.Add(2*time.Hour)))
	_, err = v.Verify(context.Background(), good.AccessToken)
	assert.ErrorIs(t, err, auth.ErrExpired, "a cached token still expires")
}
