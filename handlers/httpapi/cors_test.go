package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

func TestParseCORSOrigins(t *testing.T) {
	t.Parallel()
	good := []struct {
		name string
		in   []string
		want []string
	}{
		{"one", []string{"https://app.example.com"}, []string{"https://app.example.com"}},
		{"repeated and comma-separated, in order, once each", []string{"https://a.example.com, http://localhost:3000", "https://b.example.com,https://a.example.com"},
			[]string{"https://a.example.com", "http://localhost:3000", "https://b.example.com"}},
		{"case as browsers send it", []string{"HTTPS://App.Example.COM"}, []string{"https://app.example.com"}},
		{"default ports dropped", []string{"https://app.example.com:443", "http://app.example.com:80"}, []string{"https://app.example.com", "http://app.example.com"}},
		{"other ports kept", []string{"https://app.example.com:8443", "http://127.0.0.1:5173"}, []string{"https://app.example.com:8443", "http://127.0.0.1:5173"}},
		{"IPv6", []string{"http://[::1]:3000"}, []string{"http://[::1]:3000"}},
		{"punycode", []string{"https://xn--bcher-kva.example"}, []string{"https://xn--bcher-kva.example"}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := httpapi.ParseCORSOrigins(tt.in...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	bad := []struct{ in, says string }{
		{"*", "wildcard"},
		{"https://*.example.com", "wildcard"},
		{"null", "null"},
		{"", "empty"},
		{"https://a.example.com,,https://b.example.com", "empty"},
		{"app.example.com", "http"},
		{"ftp://app.example.com", "http"},
		{"https://", "host"},
		{"https:app.example.com", "host"},
		{"https://app.example.com/", "path"},
		{"https://app.example.com/app", "path"},
		{"https://app.example.com?x=1", "query"},
		{"https://app.example.com#top", "fragment"},
		{"https://user@app.example.com", "user"},
		{"https://app.example.com:0", "port"},
		{"https://app.example.com:65536", "port"},
		{"https://app.example.com:", "port"},
		{"https://app_example.com", "host name"},
		{"https://bücher.example", "host name"},
		{"https://-app.example.com", "host name"},
		{"https://app..example.com", "host name"},
	}
	for _, tt := range bad {
		t.Run("refuses "+tt.in, func(t *testing.T) {
			_, err := httpapi.ParseCORSOrigins(tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.says)
		})
	}
	_, err := httpapi.NewCORS(nil)
	assert.Error(t, err, "a CORS middleware needs an origin")
}

const appOrigin = "https://app.example.com"

// corsHeaders are the response's Access-Control-* headers.
func corsHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

// TestCORS: with CORS on, a preflight from an allowed origin is answered with
// every method and header the API allows, real answers (errors included) let
// the page read them, and any other origin, or a preflight asking for more,
// gets no CORS header; without CORS nothing changes.
func TestCORS(t *testing.T) {
	t.Parallel()
	c, err := httpapi.NewCORS([]string{appOrigin, "http://localhost:3000"})
	require.NoError(t, err)
	h := newInputAPI(t, func(a *httpapi.API) { a.CORS = c })
	plain := newInputAPI(t)
	acme := h.onboard("acme")
	item := "/tenants/" + acme.ID + "/data/doc"
	require.Equal(t, http.StatusOK, h.request(http.MethodPut, item, acme.Token, []byte(`{"a":1}`)).Status)

	preflight := func(h *inputAPI, origin, method, headers, path string) inputResponse {
		hs := []string{"Origin", origin, "Access-Control-Request-Method", method}
		if headers != "" {
			hs = append(hs, "Access-Control-Request-Headers", headers)
		}
		return h.request(http.MethodOptions, path, "", nil, hs...)
	}

	t.Run("preflights from allowed origins", func(t *testing.T) {
		for _, tc := range []struct{ origin, method, headers, path string }{
			{appOrigin, "PUT", "authorization,content-type,idempotency-key,if-match", item},
			{appOrigin, "DELETE", "authorization,if-match", item},
			{appOrigin, "GET", "authorization,if-none-match", item},
			{appOrigin, "POST", "content-type", "/onboarding"},
			{appOrigin, "PATCH", "authorization,content-type", "/tenants/" + acme.ID},
			{"http://localhost:3000", "GET", "authorization", "/me"},
			{appOrigin, "GET", "", "/healthz"},
		} {
			t.Run(tc.method+" "+tc.origin+" "+tc.path, func(t *testing.T) {
				pos, n := h.head()
				r := preflight(h, tc.origin, tc.method, tc.headers, tc.path)
				assert.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
				assert.Empty(t, r.Body)
				assert.Equal(t, map[string]string{
					"Access-Control-Allow-Origin":  tc.origin,
					"Access-Control-Allow-Methods": "GET, PUT, POST, PATCH, DELETE",
					"Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match",
					"Access-Control-Max-Age":       "600",
				}, corsHeaders(r.Header), "no Allow-Credentials: bearer tokens only")
				assert.Contains(t, r.Header.Values("Vary"), "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
				assert.NotEmpty(t, r.Header.Get("X-Request-Id"), "preflights get a request id like any answer")
				afterPos, afterN := h.head()
				assert.Equal(t, pos, afterPos, "a preflight writes nothing")
				assert.Equal(t, n, afterN)
			})
		}
	})

	t.Run("preflights that get no CORS header", func(t *testing.T) {
		for _, tc := range []struct{ name, origin, method, headers string }{
			{"an unknown origin", "https://evil.example", "PUT", "authorization"},
			{"a suffix of an allowed origin", "https://app.example.com.evil.example", "GET", "authorization"},
			{"another scheme", "http://app.example.com", "GET", "authorization"},
			{"another port", "https://app.example.com:8443", "GET", "authorization"},
			{"the null origin", "null", "GET", "authorization"},
			{"a header not allowed", appOrigin, "PUT", "authorization,x-tenant-id"},
			{"a method not allowed", appOrigin, "TRACE", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := preflight(h, tc.origin, tc.method, tc.headers, item)
				assert.Empty(t, corsHeaders(r.Header))
				assert.Equal(t, http.StatusMethodNotAllowed, r.Status, "the API's own answer to OPTIONS: %s", r.Body)
				assert.Empty(t, problemError(r))
			})
		}
	})

	expose := "Etag, Location, Retry-After, X-Request-Id, Allow, Www-Authenticate, Ratelimit, Ratelimit-Policy"
	t.Run("answers an allowed origin can read", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, token, body string
			status                          int
		}{
			{"an item", http.MethodGet, item, acme.Token, "", http.StatusOK},
			{"who am I", http.MethodGet, "/me", acme.Token, "", http.StatusOK},
			{"a 401", http.MethodGet, item, "", "", http.StatusUnauthorized},
			{"a 400", http.MethodGet, "/tenants/" + acme.ID + "/data?limt=1", acme.Token, "", http.StatusBadRequest},
			{"a 404", http.MethodGet, "/nothing", "", "", http.StatusNotFound},
			{"an onboarding", http.MethodPost, "/onboarding", "", `{"tenant_name":"globex","email":"a@globex.test","password":"Sup3r-secret!"}`, http.StatusCreated},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body []byte
				if tc.body != "" {
					body = []byte(tc.body)
				}
				r := h.request(tc.method, tc.path, tc.token, body, "Origin", appOrigin)
				require.Equal(t, tc.status, r.Status, "%s", r.Body)
				assert.Equal(t, map[string]string{
					"Access-Control-Allow-Origin":   appOrigin,
					"Access-Control-Expose-Headers": expose,
				}, corsHeaders(r.Header))
				assert.Contains(t, r.Header.Values("Vary"), "Origin")
				// The same request without CORS answers the same, with no CORS header.
				p := plain.request(tc.method, strings.ReplaceAll(tc.path, acme.ID, "x"), "", body, "Origin", appOrigin)
				assert.Empty(t, corsHeaders(p.Header))
			})
		}
	})

	t.Run("answers to other origins carry no CORS header", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "http://app.example.com", "null", ""} {
			r := h.request(http.MethodGet, item, acme.Token, nil, "Origin", origin)
			assert.Equal(t, http.StatusOK, r.Status, "the API answers; the browser keeps it from the page: %s", r.Body)
			assert.Empty(t, corsHeaders(r.Header), "origin %q", origin)
		}
	})

	t.Run("without CORS a preflight is the API's 405", func(t *testing.T) {
		r := preflight(plain, appOrigin, "PUT", "authorization", item)
		assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
		assert.Empty(t, corsHeaders(r.Header))
		assert.Empty(t, r.Header.Values("Vary"))
	})
}

// The exposed headers cover every response header the API sets for clients:
// each w.Header().Set / h.Set in the handlers is exposed, CORS-safelisted, or
// not meant for scripts.
func TestCORSExposesEveryHeaderTheAPISets(t *testing.T) {
	t.Parallel()
	safelisted := []string{"Cache-Control", "Content-Language", "Content-Length", "Content-Type", "Expires", "Last-Modified", "Pragma"}
	notForScripts := []string{"X-Content-Type-Options"} // a directive to the browser itself
	set := regexp.MustCompile(`(?:w\.Header\(\)|\bh)\.(?:Set|Add)\("([A-Za-z0-9-]+)"`)
	var found []string
	for _, dir := range []string{".", "../problem", "../auth"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			for _, m := range set.FindAllStringSubmatch(string(src), -1) {
				found = append(found, m[1])
			}
		}
	}
	require.Contains(t, found, "ETag", "the scan finds the headers the API sets")
	require.Contains(t, found, "Retry-After")
	for _, name := range found {
		if slices.Contains(safelisted, name) || slices.Contains(notForScripts, name) || strings.HasPrefix(name, "Access-Control-") {
			continue
		}
		assert.True(t, slices.ContainsFunc(httpapi.CORSExposedHeaders, func(e string) bool { return strings.EqualFold(e, name) }),
			"the API sets %s but CORS does not expose it to scripts (httpapi.CORSExposedHeaders)", name)
	}
}
