package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func accessControl(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

// serve --cors-origin lets the named browser origins call the API over the real
// server: preflights answered, answers readable; other origins and a server
// without the flag send no CORS header (docs/api.md, "Browsers (CORS)").
func TestServeCORSOrigins(t *testing.T) {
	out, _, err := runCLI(t, "serve", "--help")
	require.NoError(t, err)
	assert.Contains(t, out, "--cors-origin")
	for _, bad := range [][]string{{"--cors-origin", "*"}, {"--cors-origin", "https://app.example.com/"}, {"--cors-origin", "https://a.example.com,null"}} {
		_, _, err := runCLI(t, append([]string{"serve", "--data", t.TempDir()}, bad...)...)
		require.Error(t, err, "%v", bad)
		assert.Equal(t, 2, exitStatus(err), "%v: a usage error, before anything starts: %v", bad, err)
		assert.Contains(t, err.Error(), "--cors-origin")
	}
	_, err = OpenApp(t.Context(), Config{DataDir: t.TempDir(), CORSOrigins: []string{"https://*.example.com"}})
	assert.ErrorContains(t, err, "wildcard")

	const origin = "https://app.example.com"
	app := startLiveApp(t, Config{CORSOrigins: []string{origin + ", http://localhost:5173"}})
	plain := startLiveApp(t, Config{})
	for _, l := range []*liveApp{app, plain} {
		tn := l.onboard(t, "cors-acme")
		tok := l.login(t, tn).AccessToken
		item := "/tenants/" + tn.ID + "/data/doc"
		pre := l.do(t, http.MethodOptions, item, "", nil, "Origin", origin, "Access-Control-Request-Method", "PUT",
			"Access-Control-Request-Headers", "authorization,content-type,if-match")
		put := l.do(t, http.MethodPut, item, tok, map[string]int{"n": 1}, "Origin", origin)
		require.Equal(t, http.StatusOK, put.status, "%s", put)
		other := l.do(t, http.MethodGet, item, tok, nil, "Origin", "https://evil.example")
		require.Equal(t, http.StatusOK, other.status, "%s", other)
		assert.Empty(t, accessControl(other.header), "another origin gets no CORS header")
		if l == plain {
			assert.Equal(t, http.StatusMethodNotAllowed, pre.status, "without --cors-origin, OPTIONS is the API's 405")
			assert.Empty(t, accessControl(pre.header), "without --cors-origin, no CORS header at all")
			assert.Empty(t, accessControl(put.header))
			continue
		}
		assert.Equal(t, http.StatusNoContent, pre.status, "%s", pre)
		assert.Equal(t, map[string]string{
			"Access-Control-Allow-Origin":  origin,
			"Access-Control-Allow-Methods": "GET, PUT, POST, PATCH, DELETE",
			"Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match",
			"Access-Control-Max-Age":       "600",
		}, accessControl(pre.header))
		assert.Equal(t, map[string]string{
			"Access-Control-Allow-Origin":   origin,
			"Access-Control-Expose-Headers": "Etag, Location, Retry-After, X-Request-Id, Allow, Www-Authenticate, Ratelimit, Ratelimit-Policy",
		}, accessControl(put.header))
		assert.Equal(t, `"1"`, put.header.Get("ETag"))
	}
}
