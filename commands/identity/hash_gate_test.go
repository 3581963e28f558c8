package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain"
)

func TestHasherConcurrencyFollowsTheBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params HashParams
		budget int64
		want   int
	}{
		{"default budget fits 8 default hashes", DefaultHashParams, DefaultHashMemoryBudget, 8},
		{"one byte still fits one", DefaultHashParams, 1, 1},
		{"a 64 MiB budget fits 3", DefaultHashParams, 64 << 20, 3},
		{"cheap test hashes", HashParams{MemoryKiB: 64, Time: 1}, 1 << 20, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.params.MemoryKiB > 1024 && testing.Short() {
				t.Skip("a default-cost hasher computes its dummy hash")
			}
			h, err := NewHasherWithLimits(tc.params, HashLimits{MemoryBudget: tc.budget})
			require.NoError(t, err)
			assert.Equal(t, tc.want, h.Concurrency())
		})
	}
}

// With the budget held by calls in flight, a further call waits its MaxWait and
// fails as a 503 with Retry-After, or gives up as soon as its caller leaves;
// once there is room again it runs.
func TestHasherWaitsBoundedlyForRoom(t *testing.T) {
	t.Parallel()
	h, err := NewHasherWithLimits(HashParams{MemoryKiB: 64, Time: 1}, HashLimits{MemoryBudget: 128 << 10, MaxWait: 20 * time.Millisecond})
	require.NoError(t, err)
	enc, err := h.Hash("Correct horse 1!")
	require.NoError(t, err)
	require.NoError(t, h.gate.acquire(context.Background(), h.gate.size)) // two calls in flight

	start := time.Now()
	_, err = h.Verify("Correct horse 1!", enc)
	var busy *BusyError
	require.ErrorAs(t, err, &busy)
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "it waited")
	assert.Equal(t, domain.CodeUnavailable, domain.ErrorCode(err))
	var ra interface{ RetryAfter() time.Duration }
	require.True(t, errors.As(err, &ra))
	assert.Equal(t, time.Second, ra.RetryAfter())

	_, err = h.Hash("Correct horse 1!")
	require.ErrorAs(t, err, &busy, "hashing new passwords (onboarding, add-user) is bounded too")
	_, err = h.Verify("Correct horse 1!", "") // unknown user: the dummy hash is bounded as well
	require.ErrorAs(t, err, &busy)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = h.VerifyContext(ctx, "Correct horse 1!", enc)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorAs(t, err, &busy)

	h.gate.release(h.gate.size)
	ok, err := h.Verify("Correct horse 1!", enc)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, h.gate.used, "every call gave its room back")
}
