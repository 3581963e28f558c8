package feed_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/feed"
	"github.com/tenantstream/tenantstream/events/memstore"
)

// collector records delivered events and can fail the first n calls.
type collector struct {
	mu       sync.Mutex
	got      []events.Event
	failures int
	calls    int
}

func (c *collector) handle(_ context.Context, batch []events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.failures > 0 {
		c.failures--
		return errors.New("transient")
	}
	c.got = append(c.got, batch...)
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func appendEvents(t *testing.T, s events.Store, n int) {
	t.Helper()
	for range n {
		_, err := s.Append(context.Background(), events.AppendRequest{
			Tenant: "t", Stream: "s", Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "x", Data: json.RawMessage(`{}`)}},
		})
		require.NoError(t, err)
	}
}

// pollOnly hides the store's Notifier so the tail must fall back to polling.
type pollOnly struct{ events.Store }

func run(t *testing.T, tail *feed.Tail) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tail.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

func TestTailDelivers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wrap     func(*memstore.Store) events.Store
		poll     time.Duration
		failures int
	}{
		{"notifier wakes the tail", func(s *memstore.Store) events.Store { return s }, time.Hour, 0},
		{"polling without a notifier", func(s *memstore.Store) events.Store { return pollOnly{s} }, 10 * time.Millisecond, 0},
		{"handler errors are retried", func(s *memstore.Store) events.Store { return s }, time.Hour, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms := memstore.New()
			appendEvents(t, ms, 25)
			c := &collector{failures: tc.failures}
			stop := run(t, feed.New(tc.wrap(ms), c.handle, feed.Options{BatchSize: 10, PollInterval: tc.poll, RetryBackoff: time.Millisecond}))
			require.Eventually(t, func() bool { return c.count() == 25 }, 5*time.Second, time.Millisecond)
			appendEvents(t, ms, 5)
			require.Eventually(t, func() bool { return c.count() == 30 }, 5*time.Second, time.Millisecond)
			require.NoError(t, stop())
			c.mu.Lock()
			defer c.mu.Unlock()
			for i, ev := range c.got {
				assert.Equal(t, int64(i+1), ev.Position)
			}
		})
	}
}

func TestTailResumesFromSavedCursor(t *testing.T) {
	t.Parallel()
	ms := memstore.New()
	cursors := &feed.MemoryCursors{}
	appendEvents(t, ms, 7)
	first := &collector{}
	stop := run(t, feed.New(ms, first.handle, feed.Options{Cursors: cursors, PollInterval: time.Hour}))
	require.Eventually(t, func() bool { return first.count() == 7 }, 5*time.Second, time.Millisecond)
	require.NoError(t, stop())

	appendEvents(t, ms, 3)
	second := &collector{}
	stop = run(t, feed.New(ms, second.handle, feed.Options{Cursors: cursors, PollInterval: time.Hour}))
	require.Eventually(t, func() bool { return second.count() == 3 }, 5*time.Second, time.Millisecond)
	require.NoError(t, stop())
	assert.Equal(t, int64(8), second.got[0].Position, "a restarted tail resumes after the saved cursor")
}

func TestTailStopsWhenStoreCloses(t *testing.T) {
	t.Parallel()
	ms := memstore.New()
	c := &collector{}
	tail := feed.New(pollOnly{ms}, c.handle, feed.Options{PollInterval: time.Millisecond})
	require.NoError(t, ms.Close())
	err := tail.Run(context.Background())
	require.ErrorIs(t, err, events.ErrClosed)
}
