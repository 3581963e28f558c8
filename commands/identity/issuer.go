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

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// Token lifetimes. Access and ID tokens last 5 minutes (Cognito's shortest):
// a revoked session's access token is refused within that bound.
const (
	DefaultTokenTTL   = 5 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
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

// ErrInvalidRefreshToken is the cause of every refresh-token rejection.
var ErrInvalidRefreshToken = errors.New("identity: invalid refresh token")

// Tokens is the answer to a login or a refresh (Cognito's AuthenticationResult shape).
type Tokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
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

// RefreshClaims are the claims of a refresh token. It carries the email so a refresh
// can find the user again; groups are not carried, they are re-read at refresh.
type RefreshClaims struct {
	jwt.Claims
	TokenUse string `json:"token_use"`
	AuthTime int64  `json:"auth_time"`
	ClientID string `json:"client_id"`
	Email    string `json:"email,omitempty"`
	TenantID string `json:"custom:tenant_id"`
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	URL        string // iss, e.g. http://localhost:8080; the JWKS is at URL/.well-known/jwks.json
	ClientID   string // aud of ID tokens, client_id of access tokens
	Key        *SigningKey
	Clock      clock.Clock   // nil: clock.System
	TokenTTL   time.Duration // 0: DefaultTokenTTL
	RefreshTTL time.Duration // 0: DefaultRefreshTTL
	Scope      string        // "": DefaultScope
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
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
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

// Issue signs ID, access and refresh tokens for p, authenticated now.
func (is *Issuer) Issue(p ident.Principal) (Tokens, error) {
	if p.UserID == "" || p.TenantID == "" {
		return Tokens{}, errors.New("issue tokens: principal needs a user and a tenant id")
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
	refTok, err := jwt.Signed(is.signer).Claims(RefreshClaims{
		Claims: base(is.cfg.RefreshTTL, nil), TokenUse: TokenUseRefresh, AuthTime: now.Unix(),
		ClientID: is.cfg.ClientID, Email: p.Email, TenantID: p.TenantID,
	}).Serialize()
	if err != nil {
		return Tokens{}, fmt.Errorf("issue refresh token: %w", err)
	}
	return Tokens{
		AccessToken: accTok, IDToken: idTok, RefreshToken: refTok,
		TokenType: "Bearer", ExpiresIn: int(exp.Sub(now) / time.Second),
	}, nil
}

// VerifyRefresh checks a refresh token this issuer signed (RS256, our kid, iss,
// client_id, token_use "refresh", not expired) and returns whom it was issued to,
// without roles: the caller re-reads them so a removed role does not survive a refresh.
// Every failure is an unauthenticated domain.Error wrapping ErrInvalidRefreshToken.
func (is *Issuer) VerifyRefresh(token string) (ident.Principal, error) {
	fail := func(why string, cause error) (ident.Principal, error) {
		err := fmt.Errorf("verify refresh token: %w: %s", ErrInvalidRefreshToken, why)
		if cause != nil {
			err = fmt.Errorf("verify refresh token: %w: %s: %w", ErrInvalidRefreshToken, why, cause)
		}
		return ident.Principal{}, &domain.Error{Code: domain.CodeUnauthenticated, Message: "The refresh token is invalid or expired.", Err: err}
	}
	if len(token) > 8192 {
		return fail("too long", nil)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fail("parse", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != is.cfg.Key.ID {
		return fail("unknown key", nil)
	}
	var c RefreshClaims
	if err := tok.Claims(&is.cfg.Key.Private.PublicKey, &c); err != nil {
		return fail("signature", err)
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return fail("exp and iat are required", nil)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: is.cfg.URL, Time: is.cfg.Clock.Now()}, 30*time.Second); err != nil {
		return fail("claims", err)
	}
	if c.TokenUse != TokenUseRefresh || c.ClientID != is.cfg.ClientID || c.Subject == "" || c.TenantID == "" {
		return fail("not a refresh token of this client", nil)
	}
	return ident.Principal{TenantID: c.TenantID, UserID: c.Subject, Email: c.Email}, nil
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
