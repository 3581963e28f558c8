package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"

	"github.com/tenantstream/tenantstream/events"
)

// replayChunk is how many positions one worker decodes at a time; with the window
// below it bounds replay memory to a few chunks of events whatever the history size.
const replayChunk = 8192

// Replay decodes position ranges on several read connections in parallel and calls
// fn from this goroutine, strictly in position order. Decoding is the expensive
// part, so it runs in parallel; delivery stays ordered so each stream's events
// arrive in version order without the caller doing anything.
func (s *Store) Replay(ctx context.Context, opts events.ReplayOptions, fn func(events.Event) error) (events.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return opts.After, fmt.Errorf("replay: %w", err)
	}
	if opts.Tenant != "" {
		if err := opts.Tenant.Validate(); err != nil {
			return opts.After, fmt.Errorf("replay: %w", err)
		}
		if err := events.CheckScope(ctx, opts.Tenant); err != nil {
			return opts.After, fmt.Errorf("replay: %w", err)
		}
	} else if err := events.CheckUnscoped(ctx, "replay all"); err != nil {
		return opts.After, err
	}
	start, err := parseCursor(opts.After)
	if err != nil {
		return opts.After, fmt.Errorf("replay: %w", err)
	}
	end, err := s.headPosition(ctx)
	if err != nil {
		return opts.After, fmt.Errorf("replay: %w", err)
	}
	if end <= start {
		return encodeCursor(start), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	nchunks := int((end - start + replayChunk - 1) / replayChunk)
	workers := min(s.cfg.readers, defaultWorkers(), nchunks)
	window := 2 * workers
	results := make([]chan chunkResult, nchunks)
	for i := range results {
		results[i] = make(chan chunkResult, 1)
	}
	jobs := make(chan int)
	// Reusing the chunks' event slices keeps replay's garbage to the row bodies.
	pool := &chunkPool{}
	slots := make(chan struct{}, window)
	go func() {
		defer close(jobs)
		for i := range nchunks {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	q, _ := filteredQuery(opts.Tenant, 0, opts.Types, " AND pos <= ?")
	q += " ORDER BY pos"
	for range workers {
		go func() {
			for i := range jobs {
				lo := start + int64(i)*replayChunk
				hi := min(lo+replayChunk, end)
				evs, err := s.replayRange(ctx, q, opts, lo, hi, pool.Get())
				results[i] <- chunkResult{evs, err}
			}
		}()
	}
	for i := range nchunks {
		var r chunkResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return encodeCursor(start + int64(i)*replayChunk), fmt.Errorf("replay: %w", ctx.Err())
		}
		if r.err != nil {
			return encodeCursor(start + int64(i)*replayChunk), fmt.Errorf("replay: %w", r.err)
		}
		for j := range r.evs {
			if err := fn(r.evs[j]); err != nil {
				return encodeCursor(r.evs[j].Position - 1), fmt.Errorf("replay: at position %d: %w", r.evs[j].Position, err)
			}
		}
		// fn received copies of the envelopes, so the chunk's slice can carry the
		// next chunk; clearing it drops its references to this chunk's bodies.
		clear(r.evs)
		pool.Put(r.evs[:0])
		<-slots
	}
	return encodeCursor(end), nil
}

type chunkResult struct {
	evs []events.Event
	err error
}

func (s *Store) replayRange(ctx context.Context, q string, opts events.ReplayOptions, lo, hi int64, dst []events.Event) ([]events.Event, error) {
	rc, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer s.release(rc)
	_, args := filteredQuery(opts.Tenant, lo, opts.Types, " AND pos <= ?")
	// The extra "pos <= ?" comes before the type list in the query text, so its
	// argument goes right after the tenant's.
	at := 1
	if opts.Tenant != "" {
		at = 2
	}
	args = append(args[:at], append([]driver.NamedValue{{Value: hi}}, args[at:]...)...)
	for i := range args {
		args[i].Ordinal = i + 1
	}
	// A context with a Done channel makes the driver arm an interrupt around every
	// row step; a chunk is short, so ctx is checked once per chunk instead.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := rc.c.QueryContext(context.Background(), q, args)
	if err != nil {
		return nil, err
	}
	return readEvents(rows, dst)
}

// chunkPool recycles the event slices of delivered chunks.
type chunkPool struct {
	mu   sync.Mutex
	free [][]events.Event
}

func (p *chunkPool) Get() []events.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		evs := p.free[n-1]
		p.free = p.free[:n-1]
		return evs
	}
	return make([]events.Event, 0, replayChunk)
}

func (p *chunkPool) Put(evs []events.Event) {
	p.mu.Lock()
	p.free = append(p.free, evs)
	p.mu.Unlock()
}

// headPosition returns the highest committed position.
func (s *Store) headPosition(ctx context.Context) (int64, error) {
	rc, err := s.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer s.release(rc)
	rows, err := stmtQuery(ctx, rc.headAll, nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var head int64
	if err := scanInts(rows, &head); err != nil {
		return 0, err
	}
	return head, nil
}
