package auth_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantstream/tenantstream/domain/apikey"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/auth"
)

// TestWithAPIKeysRoutesByPrefix: a token with the key prefix, well-formed or
// not, goes to the key verifier only; any other token to the JWT verifier only.
func TestWithAPIKeysRoutesByPrefix(t *testing.T) {
	var jwts, keys []string
	v := auth.WithAPIKeys(
		auth.VerifierFunc(func(_ context.Context, tok string) (ident.Principal, error) {
			jwts = append(jwts, tok)
			return ident.Principal{UserID: "user"}, nil
		}),
		auth.VerifierFunc(func(_ context.Context, tok string) (ident.Principal, error) {
			keys = append(keys, tok)
			return ident.Principal{UserID: "key:x", KeyID: "x"}, nil
		}))
	for _, tc := range []struct {
		header, want string
	}{
		{"Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig", "user"},
		{"Bearer " + apikey.Prefix + "whatever", "key:x"},
		{"bearer " + apikey.Prefix, "key:x"},
		{"Bearer tsk_test_abc", "user"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", tc.header)
		p, err := auth.Bearer(v)(r)
		assert.NoError(t, err)
		assert.Equal(t, tc.want, p.UserID, tc.header)
	}
	assert.Equal(t, []string{"eyJhbGciOiJSUzI1NiJ9.e30.sig", "tsk_test_abc"}, jwts)
	assert.Equal(t, []string{apikey.Prefix + "whatever", apikey.Prefix}, keys)
}
