package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		burst int
		want  ratelimit.Rate
	}{
		{"5/1m", 0, ratelimit.Rate{N: 5, Per: time.Minute, Burst: 5}},
		{"5/m", 2, ratelimit.Rate{N: 5, Per: time.Minute, Burst: 2}},
		{"100/h", 0, ratelimit.Rate{N: 100, Per: time.Hour, Burst: 100}},
		{" 1/10s ", 3, ratelimit.Rate{N: 1, Per: 10 * time.Second, Burst: 3}},
		{"off", 0, ratelimit.Rate{}},
		{"0", 0, ratelimit.Rate{}},
	} {
		got, err := ratelimit.ParseRate(tc.spec, tc.burst)
		require.NoError(t, err, tc.spec)
		assert.Equal(t, tc.want, got, tc.spec)
		again, err := ratelimit.ParseRate(got.Spec(), got.Burst)
		require.NoError(t, err, got.Spec())
		assert.Equal(t, got, again, "Spec reads back")
	}
	assert.Equal(t, "5/1m burst 2", ratelimit.Rate{N: 5, Per: time.Minute, Burst: 2}.String())
	assert.Equal(t, "1/1.5s", ratelimit.Rate{N: 1, Per: 1500 * time.Millisecond, Burst: 1}.Spec())
	assert.Equal(t, "off", ratelimit.Rate{}.String())
	for _, bad := range []string{"", "5", "x/1m", "-1/1m", "0/1m", "5/", "5/0s", "5/-1m", "5/fortnight"} {
		_, err := ratelimit.ParseRate(bad, 0)
		assert.Error(t, err, bad)
	}
	_, err := ratelimit.ParseRate("5/m", -1)
	assert.Error(t, err)
	assert.Nil(t, ratelimit.New(nil, ratelimit.Rate{}, 0), "an off rate makes no limiter")
	ok, _ := (*ratelimit.Limiter)(nil).Allow("x")
	assert.True(t, ok, "a nil limiter allows everything")
}

// A key gets its burst at once, then one request per interval; Retry-After says
// exactly when; other keys are not affected.
func TestBurstThenSteadyRate(t *testing.T) {
	clk := clock.NewTest(t0)
	l := ratelimit.New(clk, ratelimit.Rate{N: 5, Per: time.Minute, Burst: 3}, 0)
	for i := range 3 {
		ok, _ := l.Allow("198.51.100.7")
		require.True(t, ok, "burst request %d", i)
	}
	// The test clock runs: the interval counts from the burst's last request,
	// so take the time after it (a loaded machine can spend milliseconds here).
	now := clk.Now()
	ok, wait := l.Allow("198.51.100.7")
	assert.False(t, ok)
	assert.InDelta(t, float64(12*time.Second), float64(wait), float64(50*time.Millisecond), "one request per 12 s")
	ok, _ = l.Allow("203.0.113.9")
	assert.True(t, ok, "another address has its own bucket")

	require.NoError(t, clk.Set(now.Add(12*time.Second)))
	ok, _ = l.Allow("198.51.100.7")
	assert.True(t, ok, "one more after the interval")
	ok, _ = l.Allow("198.51.100.7")
	assert.False(t, ok)

	require.NoError(t, clk.Set(now.Add(time.Hour)))
	for i := range 3 {
		ok, _ := l.Allow("198.51.100.7")
		require.True(t, ok, "the burst is back after a quiet while (%d)", i)
	}
}

// When the table is full of keys still being limited, new keys are not let
// through unchecked: they share one overflow bucket of the same rate, and the
// table does not grow. Once buckets refill, their keys are forgotten and new
// keys get buckets of their own again.
func TestAFullTableLimitsNewKeysTogether(t *testing.T) {
	clk := clock.NewTest(t0)
	l := ratelimit.New(clk, ratelimit.Rate{N: 1, Per: time.Minute, Burst: 2}, 3)
	for i := range 3 {
		ok, _ := l.Allow(fmt.Sprintf("k%d", i))
		require.True(t, ok)
	}
	require.Equal(t, 3, l.Len())
	allowed := 0
	var wait time.Duration
	for i := range 100 {
		ok, w := l.Allow(fmt.Sprintf("spray%d", i))
		if ok {
			allowed++
		} else {
			wait = w
		}
	}
	assert.Equal(t, 2, allowed, "100 new keys get one burst between them")
	assert.Positive(t, wait)
	assert.Equal(t, 3, l.Len(), "the table stays bounded")
	ok, _ := l.Allow("k0")
	assert.True(t, ok, "keys in the table keep their own bucket")

	require.NoError(t, clk.Set(clk.Now().Add(5*time.Minute)))
	for i := range 3 {
		ok, _ := l.Allow(fmt.Sprintf("new%d", i))
		assert.True(t, ok, "refilled keys were forgotten: room again (%d)", i)
	}
	assert.Equal(t, 3, l.Len())
}

// Concurrent requests on one key never get more than the burst.
func TestConcurrentRequestsGetNoMoreThanTheBurst(t *testing.T) {
	l := ratelimit.New(clock.Fixed(t0), ratelimit.Rate{N: 5, Per: time.Minute, Burst: 5}, 0)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if ok, _ := l.Allow("198.51.100.7"); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(5), allowed.Load())
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"198.51.100.7:41000":             "198.51.100.7",
		"198.51.100.7:0":                 "198.51.100.7",
		"198.51.100.7":                   "198.51.100.7",
		"[::ffff:198.51.100.7]:80":       "198.51.100.7",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:80": "2001:db8:1:2::/64",
		"[::1]:8080":                     "::/64",
		"not an address":                 "not an address",
		"":                               "",
	} {
		assert.Equal(t, want, ratelimit.ClientKey(addr), addr)
	}
	assert.Equal(t, ratelimit.ClientKey("[2001:db8:1:2::a]:1"), ratelimit.ClientKey("[2001:db8:1:2::b]:2"), "one /64 is one client")
}
