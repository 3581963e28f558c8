package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestServedChallengeFollowsRFC6750: the server that ships answers a failed
// authentication with the RFC 6750 challenge, error="invalid_token" included
// whenever a token was sent.
func TestServedChallengeFollowsRFC6750(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	l := startLiveApp(t, Config{TestClock: true, StartAt: start})
	ten := l.onboard(t, "challenged")
	tok := l.login(t, ten).AccessToken
	path := "/tenants/" + ten.ID
	l.must(t, http.StatusOK, nil, http.MethodGet, path, tok, nil)

	const invalid = `Bearer realm="tenantstream", error="invalid_token", error_description="invalid token"`
	tests := []struct {
		name, authorization, challenge string
	}{
		{"no credentials", "", `Bearer realm="tenantstream"`},
		{"garbage token", "Bearer a.b.c", invalid},
		{"another scheme", "Basic dXNlcjpwYXNz", invalid},
		{"tampered token", "Bearer " + tok[:len(tok)-4] + "AAAA", invalid},
	}
	for _, tc := range tests {
		var headers []string
		if tc.authorization != "" {
			headers = []string{"Authorization", tc.authorization}
		}
		r := l.do(t, http.MethodGet, path, "", nil, headers...)
		assert.Equal(t, http.StatusUnauthorized, r.status, tc.name)
		assert.Equal(t, tc.challenge, r.header.Get("WWW-Authenticate"), tc.name)
	}

	l.must(t, http.StatusOK, nil, http.MethodPost, "/test-clock", "", map[string]string{"now": start.Add(2 * time.Hour).Format(time.RFC3339)})
	r := l.do(t, http.MethodGet, path, tok, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, `Bearer realm="tenantstream", error="invalid_token", error_description="token expired"`, r.header.Get("WWW-Authenticate"))
}
