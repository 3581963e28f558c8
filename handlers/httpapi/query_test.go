package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

// TestUnknownQueryParameters: on every authenticated route a query parameter the
// route does not take, or one it takes given twice, is a 400 whose errors[].field
// names it, and writes nothing; the parameters a route takes still work
// (docs/api.md, "Requests and pages").
func TestUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	h := newInputAPI(t)
	acme := h.onboard("acme")
	wildcard := regexp.MustCompile(`\{[a-z_]+\}`)
	takes := map[string][]string{
		"GET /tenants/{tenant_id}/events":    {"limit", "after"},
		"GET /tenants/{tenant_id}/audit-log": {"limit", "after"},
		"GET /tenants/{tenant_id}/data":      {"limit", "cursor"},
	}

	fieldsOf := func(t *testing.T, r inputResponse) []string {
		t.Helper()
		var p struct {
			Code   string `json:"code"`
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &p), "%s", r.Body)
		assert.Equal(t, "invalid", p.Code)
		var out []string
		for _, e := range p.Errors {
			out = append(out, e.Field)
		}
		return out
	}
	var authed int
	for _, rt := range httpapi.Routes() {
		if !rt.Authed {
			continue
		}
		authed++
		method, pattern, _ := strings.Cut(rt.Pattern, " ")
		path := strings.ReplaceAll(pattern, "{tenant_id}", acme.ID)
		path = wildcard.ReplaceAllString(path, "x1")
		queries := map[string][]string{
			"?bogus=1":              {"bogus"},
			"?tenant_id=" + acme.ID: {"tenant_id"},
			"?b=1&a=2":              {"a", "b"},
			"?flag":                 {"flag"},
		}
		for _, p := range takes[rt.Pattern] {
			queries["?"+p+"=1&"+p+"=2"] = []string{p}
			queries["?"+p+"=&zzz=1"] = []string{"zzz"}
		}
		for q, want := range queries {
			t.Run(rt.Pattern+q, func(t *testing.T) {
				pos, n := h.head()
				r := h.request(method, path+q, acme.Token, nil)
				require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
				assert.Empty(t, problemError(r), "%s", r.Body)
				assert.Equal(t, want, fieldsOf(t, r))
				afterPos, afterN := h.head()
				assert.Equal(t, pos, afterPos, "the request wrote to the store")
				assert.Equal(t, n, afterN, "the request wrote to the store")
			})
		}
	}
	require.Greater(t, authed, 10)

	// Authentication comes first: no token is a 401 whatever the query.
	r := h.request(http.MethodGet, "/billing/"+acme.ID+"?bogus=1", "", nil)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	// A malformed query string is a 400 too.
	r = h.request(http.MethodGet, "/billing/"+acme.ID+"?a=%zz", acme.Token, nil)
	assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Empty(t, problemError(r), "%s", r.Body)
	// The parameters a route takes, and none at all, still work.
	for _, path := range []string{
		"/billing/" + acme.ID, "/billing/" + acme.ID + "/invoices", "/tenants/" + acme.ID,
		"/tenants/" + acme.ID + "/data?limit=5", "/tenants/" + acme.ID + "/data?limit=5&cursor=",
		"/tenants/" + acme.ID + "/events?limit=5", "/tenants/" + acme.ID + "/events?after=&limit=2",
		"/tenants/" + acme.ID + "/audit-log?limit=5", "/tenants/" + acme.ID + "/audit-log?after=&limit=2", "/me",
	} {
		r := h.request(http.MethodGet, path, acme.Token, nil)
		assert.Equal(t, http.StatusOK, r.Status, "%s: %s", path, r.Body)
	}
}
