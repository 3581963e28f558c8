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

// Authenticate requires a valid bearer token on every request and puts its
// Principal in the context, scoped to its tenant (Scope). Failures answer 401 problem+json with a
// WWW-Authenticate challenge (RFC 6750 section 3).
func Authenticate(v TokenVerifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, err := BearerToken(r)
			if err == nil {
				var p ident.Principal
				p, err = v.Verify(r.Context(), token)
				if err == nil {
					next.ServeHTTP(w, r.WithContext(Scope(WithPrincipal(r.Context(), p), p)))
					return
				}
			}
			if domain.ErrorCode(err) == domain.CodeUnauthenticated {
				w.Header().Set("WWW-Authenticate", challenge(err))
			}
			problem.Write(w, r, err)
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

// challenge follows RFC 6750: no error code when no credentials were sent.
func challenge(err error) string {
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
