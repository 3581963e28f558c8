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

// A key gets its burst, counted down in Remaining, then a refusal whose
// RetryAfter is when one more passes; another key is untouched.
func TestKeyedBurstRemainingAndRetryAfter(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	k := ratelimit.NewKeyed(clk, 0)
	r := ratelimit.Rate{N: 10, Per: time.Second, Burst: 3}
	for i, want := range []int{2, 1, 0} {
		d := k.Take("t1/write", r)
		require.True(t, d.Allowed, "burst request %d", i)
		assert.Equal(t, want, d.Remaining, "remaining after request %d", i)
		assert.Positive(t, d.Full)
	}
	d := k.Take("t1/write", r)
	assert.False(t, d.Allowed)
	assert.Zero(t, d.Remaining)
	assert.InDelta(t, float64(100*time.Millisecond), float64(d.RetryAfter), float64(20*time.Millisecond), "one request per 100 ms")
	assert.True(t, k.Take("t2/write", r).Allowed, "another tenant has its own bucket")
	assert.True(t, k.Take("t1/read", r).Allowed, "another class has its own bucket")

	require.NoError(t, clk.Set(clk.Now().Add(d.RetryAfter)))
	assert.True(t, k.Take("t1/write", r).Allowed, "one more once Retry-After has passed")
	assert.True(t, k.Take("t1/write", ratelimit.Rate{}).Allowed, "an off rate limits nothing")
}

// A bucket is a time, not a count at a rate: the same key taken at a higher
// rate (an upgraded plan) is measured at that rate on its very next request.
func TestKeyedRateChangeAppliesAtOnce(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	k := ratelimit.NewKeyed(clk, 0)
	free := ratelimit.Rate{N: 1, Per: time.Minute, Burst: 2}
	for range 2 {
		require.True(t, k.Take("t1/read", free).Allowed)
	}
	require.False(t, k.Take("t1/read", free).Allowed, "the free burst is spent")
	paid := ratelimit.Rate{N: 100, Per: time.Second, Burst: 200}
	for i := range 150 {
		require.True(t, k.Take("t1/read", paid).Allowed, "paid request %d", i)
	}
	// And back: what the paid rate took counts against the free burst.
	d := k.Take("t1/read", free)
	assert.False(t, d.Allowed, "a downgrade does not refill the bucket")
	assert.LessOrEqual(t, d.RetryAfter, time.Minute, "but owes at most one interval of the new rate")
}

// A table full of keys still being limited does not grow and does not let new
// keys through unchecked: they share overflow buckets, each at its own rate.
func TestKeyedFullTableNeverFailsOpen(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	k := ratelimit.NewKeyed(clk, 64) // 2 keys a shard
	r := ratelimit.Rate{N: 1, Per: time.Hour, Burst: 1}
	for i := range 10_000 {
		k.Take(fmt.Sprintf("tenant-%d/read", i), r)
	}
	assert.LessOrEqual(t, k.Len(), 64, "the table stays bounded")
	allowed := 0
	for i := range 10_000 {
		if k.Take(fmt.Sprintf("late-%d/read", i), r).Allowed {
			allowed++
		}
	}
	// 32 shards x 16 overflow buckets, each spent at most once an hour.
	assert.LessOrEqual(t, allowed, 32*16, "new keys are limited together, not let through")

	require.NoError(t, clk.Set(clk.Now().Add(2*time.Hour)))
	assert.True(t, k.Take("after-refill/read", r).Allowed, "refilled keys are forgotten and new ones get a bucket")
}

// Concurrent takes of one key never allow more than the burst at once.
func TestKeyedConcurrentTakesHonourTheBurst(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewKeyed(clock.NewTest(t0), 0)
	r := ratelimit.Rate{N: 1, Per: time.Hour, Burst: 25}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			for range 5 {
				if k.Take("t1/write", r).Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(25), allowed.Load())
}
