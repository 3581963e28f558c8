package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// DefaultTokenTTL is how long access and ID tokens last: 5 minutes (Cognito's
// shortest), the bound within which a revoked session's access token is
// refused. Refresh tokens are the sessions' (commands, decision 15), not JWTs.
const (
	DefaultTokenTTL = 5 * time.Minute
	// DefaultScope is the scope Cognito puts in access tokens from a password login.
	DefaultScope = "aws.cognito.signin.user.admin"
)

// Claim names shared with the verifier: the Cognito spellings, so the same
// verifier accepts real Cognito tokens.
const (
	ClaimTenantID = "custom:tenant_id"
	ClaimGroups   = "cognito:groups"
	ClaimTokenUse = "token_use"

	TokenUseID      = "id"
	TokenUseAccess  = "access"
	TokenUseRefresh = "refresh"
)

// Tokens is the answer to a login or a refresh (Cognito's AuthenticationResult
// shape) without its refresh token, which the caller's session adds.
type Tokens struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// IDClaims are the claims of an ID token.
type IDClaims struct {
	jwt.Claims
	TokenUse string   `json:"token_use"`
	AuthTime int64    `json:"auth_time"`
	Email    string   `json:"email,omitempty"`
	Username string   `json:"cognito:username,omitempty"`
	TenantID string   `json:"custom:tenant_id,omitempty"`
	Groups   []string `json:"cognito:groups,omitempty"`
}

// AccessClaims are the claims of an access token (no aud: Cognito puts the client in client_id).
type AccessClaims struct {
	jwt.Claims
	TokenUse string   `json:"token_use"`
	AuthTime int64    `json:"auth_time"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Username string   `json:"username,omitempty"`
	TenantID string   `json:"custom:tenant_id,omitempty"`
	Groups   []string `json:"cognito:groups,omitempty"`
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	URL      string // iss, e.g. http://localhost:8080; the JWKS is at URL/.well-known/jwks.json
	ClientID string // aud of ID tokens, client_id of access tokens
	Key      *SigningKey
	Clock    clock.Clock   // nil: clock.System
	TokenTTL time.Duration // 0: DefaultTokenTTL
	Scope    string        // "": DefaultScope
}

// Issuer signs Cognito-shaped tokens with the local key.
type Issuer struct {
	cfg    IssuerConfig
	signer jose.Signer
}

// NewIssuer checks cfg and prepares the signer once, since signing is on every login.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("new issuer: URL %q must be an absolute http(s) URL", cfg.URL)
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.ClientID == "" {
		return nil, errors.New("new issuer: client id is required")
	}
	if cfg.Key == nil {
		return nil, errors.New("new issuer: signing key is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: cfg.Key.Private},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), cfg.Key.ID))
	if err != nil {
		return nil, fmt.Errorf("new issuer: %w", err)
	}
	return &Issuer{cfg: cfg, signer: signer}, nil
}

// URL is the issuer identifier (iss).
func (is *Issuer) URL() string { return is.cfg.URL }

// ClientID is the audience of ID tokens.
func (is *Issuer) ClientID() string { return is.cfg.ClientID }

// Issue signs ID and access tokens for p, authenticated now.
func (is *Issuer) Issue(p ident.Principal) (Tokens, error) {
	if p.UserID == "" || p.TenantID == "" {
		return Tokens{}, errors.New("issue tokens: principal needs a user and a tenant id")
	}
	if p.Has(ident.RolePlatformAdmin) {
		// Tenant tokens never carry the operator role: operators have tokens
		// of their own (OperatorKey, docs/ARCHITECTURE.md, decision 21).
		return Tokens{}, errors.New("issue tokens: a tenant token cannot carry " + ident.RolePlatformAdmin)
	}
	now := is.cfg.Clock.Now()
	exp := now.Add(is.cfg.TokenTTL)
	base := func(ttl time.Duration, aud jwt.Audience) jwt.Claims {
		return jwt.Claims{
			Issuer: is.cfg.URL, Subject: p.UserID, Audience: aud, ID: newJTI(),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl)),
		}
	}
	groups := p.Roles
	if len(groups) == 0 {
		groups = nil
	}
	idTok, err := jwt.Signed(is.signer).Claims(IDClaims{
		Claims: base(is.cfg.TokenTTL, jwt.Audience{is.cfg.ClientID}), TokenUse: TokenUseID, AuthTime: now.Unix(),
		Email: p.Email, Username: p.UserID, TenantID: p.TenantID, Groups: groups,
	}).Serialize()
	if err != nil {
		return Tokens{}, fmt.Errorf("issue id token: %w", err)
	}
	accTok, err := jwt.Signed(is.signer).Claims(AccessClaims{
		Claims: base(is.cfg.TokenTTL, nil), TokenUse: TokenUseAccess, AuthTime: now.Unix(),
		ClientID: is.cfg.ClientID, Scope: is.cfg.Scope, Username: p.UserID, TenantID: p.TenantID, Groups: groups,
	}).Serialize()
	if err != nil {
		return Tokens{}, fmt.Errorf("issue access token: %w", err)
	}
	return Tokens{
		AccessToken: accTok, IDToken: idTok,
		TokenType: "Bearer", ExpiresIn: int(exp.Sub(now) / time.Second),
	}, nil
}

// JWKS is the public key set to publish at /.well-known/jwks.json.
func (is *Issuer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{is.cfg.Key.PublicJWK()}}
}

// OpenIDConfiguration is the discovery document (OpenID Connect Discovery 1.0) of the local issuer.
type OpenIDConfiguration struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                  []string `json:"scopes_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

// OpenIDConfiguration returns the discovery document.
func (is *Issuer) OpenIDConfiguration() OpenIDConfiguration {
	return OpenIDConfiguration{
		Issuer:                           is.cfg.URL,
		JWKSURI:                          is.cfg.URL + "/.well-known/jwks.json",
		TokenEndpoint:                    is.cfg.URL + "/auth/login",
		ResponseTypesSupported:           []string{"token"},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{string(jose.RS256)},
		ScopesSupported:                  []string{"openid", "email", is.cfg.Scope},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "jti", "email",
			ClaimTokenUse, ClaimTenantID, ClaimGroups, "client_id", "scope", "username", "cognito:username"},
	}
}

func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
