package httpapi_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/problem"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

// onboardingAPI is the real handler with only what onboarding needs, limited at
// the default rate on a test clock.
func onboardingAPI(t *testing.T) (http.Handler, *clock.Test) {
	t.Helper()
	clk := clock.NewTest(inputStart)
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1})
	require.NoError(t, err)
	svc := &commands.Service{Store: memstore.New(memstore.WithClock(clk)), Clock: clk, Plans: commands.Catalog{Catalog: catalog.Default()}, Passwords: hasher, Log: slog.New(slog.DiscardHandler)}
	api := &httpapi.API{Service: svc, PasswordPolicy: identity.ValidatePassword, Log: svc.Log,
		OnboardingLimit: ratelimit.New(clk, httpapi.DefaultOnboardingRate, 0)}
	return api.Handler(), clk
}

func onboardFrom(h http.Handler, remoteAddr, name string) *httptest.ResponseRecorder {
	body, _ := json.Marshal(map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": inputPassword})
	req := httptest.NewRequest(http.MethodPost, "/onboarding", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = remoteAddr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A flood of onboardings from one address gets the default burst through, then
// 429 problem+json with a Retry-After that is honest: after it, one more passes.
// Another address onboards meanwhile, and so does an IPv6 client, whose whole
// /64 counts as one address. Malformed requests count too: each might have cost
// a hash.
func TestOnboardingFloodFromOneAddressIsThrottled(t *testing.T) {
	t.Parallel()
	h, clk := onboardingAPI(t)
	const flooder = "198.51.100.7"
	burst := httpapi.DefaultOnboardingRate.Burst
	created, limited := 0, 0
	var last *httptest.ResponseRecorder
	for i := range 3 * burst {
		rec := onboardFrom(h, fmt.Sprintf("%s:%d", flooder, 40000+i), fmt.Sprintf("flood-%d", i))
		switch rec.Code {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			limited++
			last = rec
		default:
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	assert.Equal(t, burst, created, "the burst passes")
	assert.Equal(t, 2*burst, limited, "the rest is throttled")
	require.NotNil(t, last)
	assert.Equal(t, problem.ContentType, last.Header().Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.Unmarshal(last.Body.Bytes(), &p))
	assert.Equal(t, "rate_limited", p["code"])
	assert.EqualValues(t, 429, p["status"])
	retry, err := strconv.Atoi(last.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After in seconds")
	interval := httpapi.DefaultOnboardingRate.Per / time.Duration(httpapi.DefaultOnboardingRate.N)
	assert.Equal(t, int(interval/time.Second), retry, "one request's worth of the rate")

	assert.Equal(t, http.StatusCreated, onboardFrom(h, "203.0.113.9:5000", "other-address").Code, "another address still onboards")
	assert.Equal(t, http.StatusTooManyRequests, onboardFrom(h, flooder+":1", "still-flooding").Code)
	bad := httptest.NewRequest(http.MethodPost, "/onboarding", strings.NewReader(`{`))
	bad.RemoteAddr = flooder + ":2"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, bad)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code, "a malformed request is throttled before it is read")

	for i := range burst {
		assert.Equal(t, http.StatusCreated, onboardFrom(h, fmt.Sprintf("[2001:db8:7:7::%x]:443", i+1), fmt.Sprintf("v6-%d", i)).Code)
	}
	assert.Equal(t, http.StatusTooManyRequests, onboardFrom(h, "[2001:db8:7:7:ffff::1]:443", "v6-more").Code, "one /64 is one address")

	require.NoError(t, clk.Set(clk.Now().Add(time.Duration(retry)*time.Second)))
	assert.Equal(t, http.StatusCreated, onboardFrom(h, flooder+":3", "after-retry-after").Code, "Retry-After later, one more passes")
	assert.Equal(t, http.StatusTooManyRequests, onboardFrom(h, flooder+":4", "and-no-more").Code)
}
