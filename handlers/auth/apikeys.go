package auth

import (
	"context"
	"strings"

	"github.com/tenantstream/tenantstream/commands/identity"

	"github.com/tenantstream/tenantstream/domain/apikey"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// VerifierFunc is a TokenVerifier made of a function (commands.Service.VerifyAPIKey).
type VerifierFunc func(ctx context.Context, token string) (ident.Principal, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, token string) (ident.Principal, error) {
	return f(ctx, token)
}

// WithAPIKeys returns the one verifier of bearer tokens: a token with the API-key
// prefix (apikey.Prefix) goes to keys, and is never tried as a JWT; any other to
// tokens (docs/ARCHITECTURE.md, "API keys").
func WithAPIKeys(tokens, keys TokenVerifier) TokenVerifier {
	return VerifierFunc(func(ctx context.Context, token string) (ident.Principal, error) {
		if apikey.LooksLike(token) {
			return keys.Verify(ctx, token)
		}
		return tokens.Verify(ctx, token)
	})
}

// WithOperators sends a token with the operator prefix
// (identity.OperatorTokenPrefix) to operators, and never tries it as a JWT or
// an API key; any other token to tokens (docs/ARCHITECTURE.md, decision 21).
// A nil operators refuses every operator token.
func WithOperators(tokens, operators TokenVerifier) TokenVerifier {
	return VerifierFunc(func(ctx context.Context, token string) (ident.Principal, error) {
		if strings.HasPrefix(token, identity.OperatorTokenPrefix) {
			if operators == nil {
				return ident.Principal{}, reject("This server accepts no operator tokens.", ErrMalformedToken)
			}
			return operators.Verify(ctx, token)
		}
		return tokens.Verify(ctx, token)
	})
}
