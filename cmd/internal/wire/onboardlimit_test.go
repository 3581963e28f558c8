package wire

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

// The api function limits onboarding per sourceIp as TENANTSTREAM_ONBOARDING_RATE
// and TENANTSTREAM_ONBOARDING_BURST say (unset: httpapi.DefaultOnboardingRate),
// answering 429 with Retry-After; "off" limits nothing; a malformed value fails
// the cold start instead of running unlimited.
func TestAPIOnboardingRateFromEnv(t *testing.T) {
	noAWSProfile(t)
	t.Setenv("TENANTSTREAM_STORE", StoreMemory)
	onboard := func(t *testing.T, h APIHandler, sourceIP, name string) (int, http.Header) {
		ev := awstest.APIRequest(t, http.MethodPost, "/onboarding", "", map[string]string{
			"tenant_name": name, "email": "admin@" + name + ".test", "password": "Sup3r-secret!"}, nil)
		ev.RequestContext.HTTP.SourceIP = sourceIP
		out, err := h(context.Background(), ev)
		require.NoError(t, err)
		hdr := http.Header{}
		for k, v := range out.Headers {
			hdr.Set(k, v)
		}
		return out.StatusCode, hdr
	}
	api := func(t *testing.T) APIHandler {
		h, _, err := newAPI(context.Background(), FromEnv(), forTest(io.Discard))
		require.NoError(t, err)
		return h
	}
	for _, tt := range []struct {
		name, rate, burst string
		allowed           int // from one address before a 429; -1: never limited
		retryAfter        int
	}{
		{name: "default", allowed: httpapi.DefaultOnboardingRate.Burst, retryAfter: 12},
		{name: "configured", rate: "2/1h", burst: "", allowed: 2, retryAfter: 1800},
		{name: "configured burst", rate: "1/10s", burst: "3", allowed: 3, retryAfter: 10},
		{name: "off", rate: "off", allowed: -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TENANTSTREAM_ONBOARDING_RATE", tt.rate)
			t.Setenv("TENANTSTREAM_ONBOARDING_BURST", tt.burst)
			h := api(t)
			n := tt.allowed
			if n < 0 {
				n = 10
			}
			for i := range n {
				status, _ := onboard(t, h, "198.51.100.7", fmt.Sprintf("tenant-%d", i))
				require.Equal(t, http.StatusCreated, status, "request %d", i)
			}
			status, hdr := onboard(t, h, "198.51.100.7", "one-more")
			if tt.allowed < 0 {
				assert.Equal(t, http.StatusCreated, status)
				return
			}
			require.Equal(t, http.StatusTooManyRequests, status)
			retry, err := strconv.Atoi(hdr.Get("Retry-After"))
			require.NoError(t, err)
			assert.InDelta(t, tt.retryAfter, retry, 1)
			status, _ = onboard(t, h, "203.0.113.9", "another-address")
			assert.Equal(t, http.StatusCreated, status, "another sourceIp is not limited")
		})
	}
	for _, bad := range [][2]string{{"5", ""}, {"5/soon", ""}, {"5/1m", "many"}, {"5/1m", "-1"}, {"", "-2"}} {
		t.Setenv("TENANTSTREAM_ONBOARDING_RATE", bad[0])
		t.Setenv("TENANTSTREAM_ONBOARDING_BURST", bad[1])
		_, _, err := newAPI(context.Background(), FromEnv(), forTest(io.Discard))
		assert.ErrorContains(t, err, "TENANTSTREAM_ONBOARDING_", "%v", bad)
	}
}
