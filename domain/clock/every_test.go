package clock

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestEveryRunsUntilCancelledAndReportsErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls, reported atomic.Int32
	done := make(chan struct{})
	go func() {
		Every(ctx, time.Millisecond, func(context.Context) error {
			if calls.Add(1) == 3 {
				return errors.New("boom")
			}
			return nil
		}, func(error) { reported.Add(1) })
		close(done)
	}()
	assert.Eventually(t, func() bool { return calls.Load() >= 5 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not stop when its context ended")
	}
	assert.Equal(t, int32(1), reported.Load(), "the one error was reported")
}
