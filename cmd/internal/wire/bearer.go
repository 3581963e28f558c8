package wire

import (
	"context"

	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/auth"
)

// BearerVerifier is the one verifier of bearer tokens, for the local server
// and the api function alike (docs/ARCHITECTURE.md, "API keys"): an API key
// (tsk_live_...) goes to the platform's Service.VerifyAPIKey, which reads the
// key index with the function's own role and the tenant's keys with the
// tenant's scoped credentials; any other token to tokens, the JWT verifier
// (the local issuer's, or the Cognito pool's JWKS on AWS). A nil tokens
// refuses every JWT: an api function without a user pool (tests) accepts
// only keys.
func (p *Platform) BearerVerifier(tokens auth.TokenVerifier) auth.TokenVerifier {
	if tokens == nil {
		tokens = noUserPool{}
	}
	return auth.WithAPIKeys(tokens, auth.VerifierFunc(p.Service.VerifyAPIKey))
}

// noUserPool refuses every JWT.
type noUserPool struct{}

func (noUserPool) Verify(context.Context, string) (ident.Principal, error) {
	return ident.Principal{}, &domain.Error{Code: domain.CodeUnauthenticated,
		Message: "This API has no user pool configured: only API keys are accepted.", Err: auth.ErrMalformedToken}
}
