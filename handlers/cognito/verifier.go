package cognito

import (
	"fmt"
	"strings"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/auth"
)

// IssuerURL is the iss of a user pool's tokens.
func IssuerURL(region, userPoolID string) string {
	return "https://cognito-idp." + region + ".amazonaws.com/" + userPoolID
}

// JWKSURL is where a pool's signing keys are served under endpoint: the issuer
// on AWS, moto's own address in tests (moto signs with the real issuer URL but
// serves the keys itself).
func JWKSURL(endpoint, userPoolID string) string {
	return strings.TrimSuffix(endpoint, "/") + "/" + userPoolID + "/.well-known/jwks.json"
}

// VerifierConfig says which pool's tokens to accept.
type VerifierConfig struct {
	Region     string
	UserPoolID string
	ClientIDs  []string
	// JWKSURL overrides where keys are fetched; empty: the issuer's own.
	JWKSURL string
	Clock   clock.Clock
	// PlatformAdmins makes this the verifier of the operators' pool: its
	// tokens must carry platform_admin and no tenant; without it a token
	// carrying platform_admin is refused (docs/ARCHITECTURE.md, decision 21).
	PlatformAdmins bool
}

// NewVerifier returns a bearer-token verifier for the pool's ID and access tokens.
func NewVerifier(cfg VerifierConfig) (*auth.Verifier, error) {
	if cfg.Region == "" || cfg.UserPoolID == "" {
		return nil, fmt.Errorf("new cognito verifier: region and user pool id are required")
	}
	iss := IssuerURL(cfg.Region, cfg.UserPoolID)
	jwks := cfg.JWKSURL
	if jwks == "" {
		jwks = iss + "/.well-known/jwks.json"
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: iss, ClientIDs: cfg.ClientIDs, Keys: &auth.RemoteJWKS{URL: jwks, Clock: cfg.Clock}, Clock: cfg.Clock, PlatformAdmins: cfg.PlatformAdmins})
	if err != nil {
		return nil, fmt.Errorf("new cognito verifier: %w", err)
	}
	return v, nil
}
