package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve limits onboarding per client address as --onboarding-rate and
// --onboarding-burst say (Config.OnboardingRate, OnboardingBurst), and refuses to
// start on a malformed rate rather than run unlimited.
func TestServeOnboardingRate(t *testing.T) {
	t.Parallel()
	out, _, err := runCLI(t, "serve", "--help")
	require.NoError(t, err)
	assert.Contains(t, out, "--onboarding-rate")
	assert.Contains(t, out, "--onboarding-burst")

	srv := startServer(t, "", Config{OnboardingRate: "2/1h", OnboardingBurst: 2})
	for i := range 2 {
		name := fmt.Sprintf("limited-%d", i)
		r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": acmePassword})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	}
	r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "limited-3", "email": "admin@limited-3.test", "password": acmePassword})
	p := requireProblem(t, r, http.StatusTooManyRequests)
	assert.Equal(t, "rate_limited", p["code"])
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 1800, retry, 2, "one request's worth of 2 an hour")

	for _, bad := range []Config{{OnboardingRate: "5"}, {OnboardingRate: "5/eventually"}, {OnboardingBurst: -1}} {
		bad.DataDir = t.TempDir()
		_, err := OpenApp(t.Context(), bad)
		assert.ErrorContains(t, err, "onboarding", "%+v", bad)
	}
}
