package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// ByIssuer sends a JWT whose (not yet verified) iss names one of byIssuer's
// issuers to that verifier, and every other token to fallback: on AWS the
// operators' user pool next to the tenants' (docs/aws.md, "Operators on AWS").
// The claim only picks the verifier; the chosen one checks the signature with
// its own pool's keys, and the issuer again.
func ByIssuer(byIssuer map[string]TokenVerifier, fallback TokenVerifier) TokenVerifier {
	return VerifierFunc(func(ctx context.Context, token string) (ident.Principal, error) {
		if v, ok := byIssuer[unverifiedIssuer(token)]; ok && len(token) <= maxTokenLen {
			return v.Verify(ctx, token)
		}
		return fallback.Verify(ctx, token)
	})
}

// unverifiedIssuer is the iss of a JWT's payload, "" when it has none.
func unverifiedIssuer(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > maxTokenLen {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.Iss
}
