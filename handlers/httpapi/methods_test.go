package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

type okHandler struct{}

func (okHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// TestWrongMethodIs405 sends every method a path is not registered for to every
// registered path: each answer is a 405 problem+json whose Allow header lists
// exactly the path's methods (HEAD with GET), before any authentication. Unknown
// paths stay 404 (docs/api.md, "Requests and pages").
func TestWrongMethodIs405(t *testing.T) {
	t.Parallel()
	api := &httpapi.API{JWKS: okHandler{}, OpenIDConfig: okHandler{}, Metrics: httpapi.NewMetrics(prometheus.NewRegistry())}
	h := api.Handler()
	serve := func(method, path string) inputResponse {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return inputResponse{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	}

	methods := map[string][]string{} // path pattern -> registered methods
	for _, rt := range httpapi.Routes() {
		m, p, ok := strings.Cut(rt.Pattern, " ")
		require.True(t, ok, "pattern %q has no method", rt.Pattern)
		methods[p] = append(methods[p], m)
	}
	require.Greater(t, len(methods), 15)
	wildcard := regexp.MustCompile(`\{[a-z_]+\}`)
	all := []string{"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"}
	for pattern, ms := range methods {
		allow := slices.Clone(ms)
		if slices.Contains(allow, "GET") {
			allow = append(allow, "HEAD")
		}
		slices.Sort(allow)
		path := wildcard.ReplaceAllString(pattern, "x1")
		for _, m := range all {
			if slices.Contains(allow, m) {
				continue
			}
			t.Run(m+" "+pattern, func(t *testing.T) {
				r := serve(m, path)
				require.Equal(t, http.StatusMethodNotAllowed, r.Status, "%s", r.Body)
				assert.Empty(t, problemError(r), "%s", r.Body)
				assert.Equal(t, strings.Join(allow, ", "), r.Header.Get("Allow"))
				var p struct {
					Code string `json:"code"`
				}
				require.NoError(t, json.Unmarshal(r.Body, &p))
				assert.Equal(t, "method_not_allowed", p.Code)
			})
		}
	}

	for _, path := range []string{"/nothing", "/tenants", "/tenants/x1/", "/tenants/x1/data/x2/more", "/billing", "/auth"} {
		for _, m := range []string{"GET", "POST", "PATCH"} {
			r := serve(m, path)
			assert.Equal(t, http.StatusNotFound, r.Status, "%s %s: %s", m, path, r.Body)
			assert.Empty(t, problemError(r), "%s %s: %s", m, path, r.Body)
			assert.Empty(t, r.Header.Get("Allow"), "%s %s", m, path)
		}
	}
	// A registered method still reaches its route.
	assert.Equal(t, http.StatusOK, serve("GET", "/healthz").Status)
	assert.Equal(t, http.StatusOK, serve("HEAD", "/healthz").Status)
}

// TestUncleanPathsAre404: ServeMux would redirect /tenants//data/x to a cleaned
// path (losing a PUT's body); the API answers a problem+json 404 instead.
func TestUncleanPathsAre404(t *testing.T) {
	h := (&httpapi.API{Service: &commands.Service{}}).Handler()
	for _, p := range []string{"/tenants//data/item-1", "/tenants/t/./data", "/tenants/t/../t/data", "//healthz", "/healthz/."} {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, "http://example.test"+p, strings.NewReader(`{}`)))
			assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s", method, p)
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), "%s %s", method, p)
			assert.Empty(t, rec.Header().Get("Location"), "%s %s", method, p)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "a clean path still routes")
}
