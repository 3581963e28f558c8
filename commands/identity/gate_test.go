package identity

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The gate never lets more than its size through at once, whatever the mix of
// weights, and everyone gets through eventually.
func TestMemGateBoundsWhatIsHeld(t *testing.T) {
	t.Parallel()
	g := newMemGate(10)
	var held, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			n := g.weight(int64(1 + i%4*3)) // 1, 4, 7, 10
			require.NoError(t, g.acquire(context.Background(), n))
			now := held.Add(n)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			held.Add(-n)
			g.release(n)
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(10))
	assert.Zero(t, g.used)
	assert.Zero(t, g.waiters.Len())
}

func TestMemGateWeightIsCappedAtTheBudget(t *testing.T) {
	t.Parallel()
	g := newMemGate(10)
	assert.Equal(t, int64(10), g.weight(1<<20), "a call costlier than the budget runs alone")
	assert.Equal(t, int64(1), g.weight(0))
}

// A waiter that gives up leaves nothing behind and unblocks smaller waiters it
// was holding back.
func TestMemGateCancelledWaiterLeavesNoTrace(t *testing.T) {
	t.Parallel()
	g := newMemGate(10)
	require.NoError(t, g.acquire(context.Background(), 6))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	big := make(chan error, 1)
	go func() { big <- g.acquire(ctx, 10) }()
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.waiters.Len() == 1 }, time.Second, time.Millisecond)
	small := make(chan error, 1)
	go func() { small <- g.acquire(context.Background(), 4) }()
	select {
	case <-small:
		t.Fatal("FIFO: the small waiter must queue behind the big one")
	case <-time.After(5 * time.Millisecond):
	}
	require.ErrorIs(t, <-big, context.DeadlineExceeded)
	require.NoError(t, <-small, "the big waiter's exit lets the small one in")
	g.release(4)
	g.release(6)
	assert.Zero(t, g.used)
	assert.Zero(t, g.waiters.Len())
}

// The collector goes ahead of a queue that formed before it, and once it is
// queued nothing else starts.
func TestMemGateReserveFirstJumpsTheQueue(t *testing.T) {
	t.Parallel()
	g := newMemGate(10)
	require.NoError(t, g.acquire(context.Background(), 6))
	queued := make(chan error, 1)
	go func() { queued <- g.acquire(context.Background(), 6) }()
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.waiters.Len() == 1 }, time.Second, time.Millisecond)
	first := g.reserveFirst(10)
	assert.Error(t, g.acquire(canceled(), 1), "a small call that would fit waits behind the collector")
	g.release(6)
	<-first
	select {
	case <-queued:
		t.Fatal("the earlier waiter must wait for the collector")
	case <-time.After(5 * time.Millisecond):
	}
	g.release(10)
	require.NoError(t, <-queued)
	g.release(6)
	assert.Zero(t, g.used)
	assert.Zero(t, g.waiters.Len())

	select {
	case <-g.reserveFirst(10):
	default:
		t.Fatal("with room, the collector goes at once")
	}
	g.release(10)
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
