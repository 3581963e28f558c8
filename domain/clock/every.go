package clock

import (
	"context"
	"time"
)

// Every calls fn every interval (wall time, not the injected clock: background
// loops must keep running while a test clock stands still) until ctx ends.
// fn's errors are passed to onErr unless ctx has ended by then.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context) error, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
