package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// Causes of token rejection, for errors.Is and logs. Every one reaches the client as
// an unauthenticated domain.Error.
var (
	ErrMissingToken   = errors.New("auth: missing bearer token")
	ErrMalformedToken = errors.New("auth: malformed token")
	ErrUnsupportedAlg = errors.New("auth: unsupported signing algorithm")
	ErrBadSignature   = errors.New("auth: bad signature")
	ErrExpired        = errors.New("auth: token expired")
	ErrNotYetValid    = errors.New("auth: token not yet valid")
	ErrWrongIssuer    = errors.New("auth: wrong issuer")
	ErrWrongAudience  = errors.New("auth: wrong audience")
	ErrWrongTokenUse  = errors.New("auth: wrong token use")
	ErrMissingClaim   = errors.New("auth: missing claim")
	ErrForbiddenRole  = errors.New("auth: role not allowed in this token")
)

// maxTokenLen bounds the work an unauthenticated request can cause.
const maxTokenLen = 8192

// Config configures a Verifier.
type Config struct {
	Issuer    string   // exact iss, e.g. http://localhost:8080 or https://cognito-idp.eu-west-1.amazonaws.com/POOL
	ClientIDs []string // accepted aud (ID tokens) and client_id (access tokens)
	// TokenUses lists the accepted token_use values; nil accepts "access" and "id".
	TokenUses []string
	Keys      KeySource
	Clock     clock.Clock   // nil: clock.System
	Leeway    time.Duration // clock skew allowed on exp, nbf and iat; 0: 30 s
	// CacheSize bounds the cache of verified tokens; 0: 10,000, negative: no cache.
	CacheSize int
	// PlatformAdmins makes this the verifier of an operator pool: every token
	// must carry the platform_admin group and name no tenant. Without it (the
	// local issuer, the tenants' user pool) a token carrying platform_admin is
	// refused: tenant tokens can never be operators (docs/ARCHITECTURE.md,
	// decision 21).
	PlatformAdmins bool
}

// Verifier checks bearer tokens and turns them into Principals. It caches verified
// tokens (for at most cacheTTL and never past exp) because a client sends the same
// token on every request and an RSA verification costs tens of microseconds.
type Verifier struct {
	cfg Config

	mu    sync.RWMutex
	cache map[string]cached
}

type cached struct {
	p       ident.Principal
	expires time.Time
}

// cacheTTL bounds how long a token stays trusted without re-checking its key, so a
// key withdrawn from a remote JWKS stops working within minutes.
const cacheTTL = 5 * time.Minute

// NewVerifier checks cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("new verifier: issuer is required")
	}
	if len(cfg.ClientIDs) == 0 {
		return nil, errors.New("new verifier: at least one client id is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("new verifier: a key source is required")
	}
	if cfg.TokenUses == nil {
		cfg.TokenUses = []string{identity.TokenUseAccess, identity.TokenUseID}
	}
	for _, u := range cfg.TokenUses {
		if u != identity.TokenUseAccess && u != identity.TokenUseID {
			return nil, fmt.Errorf("new verifier: token use %q cannot authenticate requests", u)
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10_000
	}
	return &Verifier{cfg: cfg, cache: map[string]cached{}}, nil
}

// tokenClaims is the union of ID and access token claims we read.
type tokenClaims struct {
	jwt.Claims
	TokenUse string          `json:"token_use"`
	ClientID string          `json:"client_id"`
	Email    string          `json:"email"`
	Username string          `json:"username"`         // access tokens
	IDName   string          `json:"cognito:username"` // ID tokens
	TenantID string          `json:"custom:tenant_id"`
	Groups   json.RawMessage `json:"cognito:groups"`
}

type header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

func reject(message string, cause error) error {
	return &domain.Error{Code: domain.CodeUnauthenticated, Message: message, Err: cause}
}

// Verify checks token (RS256 only, signature, iss, exp/nbf/iat, token_use,
// aud/client_id) and returns the principal it names. Errors are unauthenticated
// domain.Errors wrapping one of the Err* causes.
func (v *Verifier) Verify(ctx context.Context, token string) (ident.Principal, error) {
	if v.cfg.CacheSize > 0 {
		v.mu.RLock()
		c, ok := v.cache[token]
		v.mu.RUnlock()
		if ok && v.cfg.Clock.Now().Before(c.expires) {
			c.p.Roles = slices.Clone(c.p.Roles) // callers may not alias the cached slice
			return c.p, nil
		}
	}
	var exp time.Time
	p, err := v.verifyUncached(ctx, token, &exp)
	if err != nil || v.cfg.CacheSize <= 0 {
		return p, err
	}
	expires := v.cfg.Clock.Now().Add(cacheTTL)
	if exp.Before(expires) {
		expires = exp
	}
	v.mu.Lock()
	if len(v.cache) >= v.cfg.CacheSize {
		// Crude but bounded: a full cache starts over rather than tracking recency.
		clear(v.cache)
	}
	v.cache[token] = cached{p: ident.Principal{TenantID: p.TenantID, UserID: p.UserID, Email: p.Email, Username: p.Username, Roles: slices.Clone(p.Roles)}, expires: expires}
	v.mu.Unlock()
	return p, nil
}

// verifyUncached does the full check and sets *exp to the token's expiry (plus leeway).
func (v *Verifier) verifyUncached(ctx context.Context, token string, exp *time.Time) (ident.Principal, error) {
	const invalid = "The access token is invalid."
	if token == "" {
		return ident.Principal{}, reject("A bearer token is required.", ErrMissingToken)
	}
	if len(token) > maxTokenLen {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: longer than %d bytes", ErrMalformedToken, maxTokenLen))
	}
	// Read the header ourselves first: it gives a precise cause for alg "none",
	// HS256 (the public-key-as-HMAC-secret attack) and friends before any crypto.
	h, err := parseHeader(token)
	if err != nil {
		return ident.Principal{}, reject(invalid, err)
	}
	if h.Alg != string(jose.RS256) {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: %q", ErrUnsupportedAlg, h.Alg))
	}
	if len(h.Crit) > 0 {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: critical header %v", ErrMalformedToken, h.Crit))
	}
	if h.Kid == "" {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: no kid", ErrMalformedToken))
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: %w", ErrMalformedToken, err))
	}
	key, err := v.cfg.Keys.Key(ctx, h.Kid)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return ident.Principal{}, reject(invalid, err)
		}
		// The IdP's key set is unreachable: not the client's fault.
		return ident.Principal{}, &domain.Error{Code: domain.CodeUnavailable, Message: "Token keys are unavailable.", Err: fmt.Errorf("verify token: %w", err)}
	}
	var c tokenClaims
	if err := tok.Claims(key, &c); err != nil {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: %w", ErrBadSignature, err))
	}
	now := v.cfg.Clock.Now()
	switch {
	case c.Issuer != v.cfg.Issuer:
		// The signature held, so the token is ours from another issuer URL: a
		// local server restarted on another --addr. Say so rather than "invalid".
		return ident.Principal{}, reject(fmt.Sprintf("Issuer mismatch: the token was issued by %q, this server is %q. Log in again, or keep the server's --issuer.", c.Issuer, v.cfg.Issuer),
			fmt.Errorf("%w: %q", ErrWrongIssuer, c.Issuer))
	case c.Expiry == nil || c.IssuedAt == nil:
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: exp and iat are required", ErrMissingClaim))
	case now.After(c.Expiry.Time().Add(v.cfg.Leeway)):
		return ident.Principal{}, reject("The access token has expired.", ErrExpired)
	case c.NotBefore != nil && now.Add(v.cfg.Leeway).Before(c.NotBefore.Time()):
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: nbf in the future", ErrNotYetValid))
	case now.Add(v.cfg.Leeway).Before(c.IssuedAt.Time()):
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: iat in the future", ErrNotYetValid))
	case !slices.Contains(v.cfg.TokenUses, c.TokenUse):
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: %q", ErrWrongTokenUse, c.TokenUse))
	}
	switch c.TokenUse {
	case identity.TokenUseID:
		if !slices.ContainsFunc(v.cfg.ClientIDs, c.Audience.Contains) {
			return ident.Principal{}, reject(invalid, fmt.Errorf("%w: aud %v", ErrWrongAudience, []string(c.Audience)))
		}
	case identity.TokenUseAccess:
		if !slices.Contains(v.cfg.ClientIDs, c.ClientID) {
			return ident.Principal{}, reject(invalid, fmt.Errorf("%w: client_id %q", ErrWrongAudience, c.ClientID))
		}
	}
	*exp = c.Expiry.Time().Add(v.cfg.Leeway)
	groups, err := parseGroupsJSON(c.Groups)
	if err != nil {
		return ident.Principal{}, reject(invalid, err)
	}
	name := c.Username
	if name == "" {
		name = c.IDName
	}
	if slices.Contains(groups, ident.RolePlatformAdmin) != v.cfg.PlatformAdmins {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: %s in a token of the wrong pool", ErrForbiddenRole, ident.RolePlatformAdmin))
	}
	if v.cfg.PlatformAdmins && c.TenantID != "" {
		return ident.Principal{}, reject(invalid, fmt.Errorf("%w: an operator token names a tenant", ErrForbiddenRole))
	}
	return principal(c.TenantID, c.Subject, c.Email, name, groups)
}

func principal(tenant, sub, email, username string, groups []string) (ident.Principal, error) {
	if sub == "" {
		return ident.Principal{}, reject("The access token is invalid.", fmt.Errorf("%w: sub", ErrMissingClaim))
	}
	// A token without a tenant cannot reach tenant data; only platform admins may lack one.
	if tenant == "" && !slices.Contains(groups, ident.RolePlatformAdmin) {
		return ident.Principal{}, reject("The access token names no tenant.", fmt.Errorf("%w: %s", ErrMissingClaim, identity.ClaimTenantID))
	}
	return ident.Principal{TenantID: tenant, UserID: sub, Email: email, Username: username, Roles: groups}, nil
}

func parseHeader(token string) (header, error) {
	first, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return header{}, fmt.Errorf("%w: want three dot-separated parts", ErrMalformedToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(first)
	if err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrMalformedToken, err)
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return header{}, fmt.Errorf("%w: header: %w", ErrMalformedToken, err)
	}
	return h, nil
}

func parseGroupsJSON(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var groups []string
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("%w: cognito:groups is not a list of strings", ErrMalformedToken)
	}
	return groups, nil
}

// PrincipalFromClaims builds a Principal from API Gateway's JWT authorizer claims,
// which reach the Lambda as strings: cognito:groups arrives as "[a b]". The
// authorizer has already checked signature, issuer, audience and expiry.
func PrincipalFromClaims(claims map[string]string) (ident.Principal, error) {
	use := claims[identity.ClaimTokenUse]
	if use != identity.TokenUseAccess && use != identity.TokenUseID {
		return ident.Principal{}, reject("The access token is invalid.", fmt.Errorf("%w: %q", ErrWrongTokenUse, use))
	}
	groups, err := ParseGroupsClaim(claims[identity.ClaimGroups])
	if err != nil {
		return ident.Principal{}, reject("The access token is invalid.", err)
	}
	name := claims["username"]
	if name == "" {
		name = claims["cognito:username"]
	}
	return principal(claims[identity.ClaimTenantID], claims["sub"], claims["email"], name, groups)
}

// ParseGroupsClaim parses cognito:groups as API Gateway flattens it ("[a b]"), or
// as a JSON array, or as a single bare group.
func ParseGroupsClaim(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "[]" {
		return nil, nil
	}
	if strings.HasPrefix(s, "[\"") {
		var groups []string
		if err := json.Unmarshal([]byte(s), &groups); err != nil {
			return nil, fmt.Errorf("%w: cognito:groups %q", ErrMalformedToken, s)
		}
		return groups, nil
	}
	if strings.HasPrefix(s, "[") != strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("%w: cognito:groups %q", ErrMalformedToken, s)
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return strings.Fields(s), nil
}
