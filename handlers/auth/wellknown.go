package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// JWKSHandler serves GET /.well-known/jwks.json with only the public keys.
func JWKSHandler(set jose.JSONWebKeySet) (http.Handler, error) {
	public := jose.JSONWebKeySet{}
	for _, k := range set.Keys {
		// Public() strips private parts, whatever the caller passed in.
		pk := k.Public()
		if !pk.Valid() {
			return nil, fmt.Errorf("jwks handler: key %q has no public part", k.KeyID)
		}
		public.Keys = append(public.Keys, pk)
	}
	return staticJSON(public, "application/json")
}

// OpenIDConfigurationHandler serves GET /.well-known/openid-configuration.
func OpenIDConfigurationHandler(doc any) (http.Handler, error) {
	return staticJSON(doc, "application/json")
}

// staticJSON serves a document rendered once, cacheable for an hour with an ETag, as
// clients (and API Gateway's authorizer) fetch it often and it changes only on key rotation.
func staticJSON(v any, contentType string) (http.Handler, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("render document: %w", err)
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			problem.WriteProblem(w, problem.Problem{
				Type: "about:blank", Title: http.StatusText(http.StatusMethodNotAllowed),
				Status: http.StatusMethodNotAllowed, Detail: "Use GET.", Code: domain.CodeInvalid,
				RequestID: problem.RequestIDFrom(r.Context()),
			})
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("ETag", etag)
		if match := r.Header.Get("If-None-Match"); match != "" && (match == etag || match == "*") {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", contentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	}), nil
}
