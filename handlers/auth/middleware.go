package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// TokenVerifier turns a bearer token into a Principal; *Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (ident.Principal, error)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p (for adapters such as API Gateway's, and tests).
func WithPrincipal(ctx context.Context, p ident.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller, if any.
func PrincipalFrom(ctx context.Context) (ident.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(ident.Principal)
	return p, ok
}

// Authenticator turns a request into its caller: Bearer for the local issuer's
// tokens and API keys (WithAPIKeys), lambdaapi.Authenticate behind API Gateway
// (the same bearer verification, Cognito's tokens instead of the local issuer's).
type Authenticator func(r *http.Request) (ident.Principal, error)

// Bearer authenticates "Authorization: Bearer <token>" with v.
func Bearer(v TokenVerifier) Authenticator {
	return func(r *http.Request) (ident.Principal, error) {
		token, err := BearerToken(r)
		if err != nil {
			return ident.Principal{}, err
		}
		return v.Verify(r.Context(), token)
	}
}

// Middleware is the one authentication path of the API: it requires authn to
// accept every request and puts the Principal in the context (WithPrincipal),
// scoped to its tenant (Scope), then calls authenticated, if set, before next.
// A failure gets the RFC 6750 section 3 WWW-Authenticate challenge when it is an
// authentication failure, and is answered by fail (problem.Write when nil).
func Middleware(authn Authenticator, fail func(w http.ResponseWriter, r *http.Request, err error), authenticated func(r *http.Request, p ident.Principal)) func(http.Handler) http.Handler {
	if fail == nil {
		fail = problem.Write
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := authn(r)
			if err != nil {
				if domain.ErrorCode(err) == domain.CodeUnauthenticated {
					w.Header().Set("WWW-Authenticate", Challenge(err))
				}
				fail(w, r, err)
				return
			}
			if authenticated != nil {
				authenticated(r, p)
			}
			next.ServeHTTP(w, r.WithContext(Scope(WithPrincipal(r.Context(), p), p)))
		})
	}
}

// BearerToken extracts the token from "Authorization: Bearer <token>".
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 || h[0] == "" {
		return "", reject("A bearer token is required.", ErrMissingToken)
	}
	if len(h) > 1 {
		return "", reject("Send one Authorization header.", ErrMalformedToken)
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", reject("The Authorization header must use the Bearer scheme.", ErrMalformedToken)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", reject("A bearer token is required.", ErrMissingToken)
	}
	return token, nil
}

// Challenge is the WWW-Authenticate value for an authentication failure, as RFC
// 6750 section 3 says: no error code when no credentials were sent, else
// error="invalid_token" with a description.
func Challenge(err error) string {
	const realm = `Bearer realm="tenantstream"`
	if errors.Is(err, ErrMissingToken) {
		return realm
	}
	desc := "invalid token"
	if errors.Is(err, ErrExpired) {
		desc = "token expired"
	}
	return realm + `, error="invalid_token", error_description="` + desc + `"`
}
