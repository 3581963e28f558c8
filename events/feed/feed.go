package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/events"
)

// Handler receives one batch of events in store order. Returning an error makes the
// tail retry the same batch after a backoff: delivery is at least once, so handlers
// must skip duplicates (the projection engine does).
type Handler func(ctx context.Context, batch []events.Event) error

// CursorStore persists the tail's position so a restart resumes where it stopped.
type CursorStore interface {
	// LoadCursor returns the saved cursor, or the zero cursor if none was saved.
	LoadCursor(ctx context.Context, name string) (events.Cursor, error)
	// SaveCursor records that everything up to c has been handled.
	SaveCursor(ctx context.Context, name string, c events.Cursor) error
}

// MemoryCursors is a CursorStore in memory, for tests and for tails that may
// start from the beginning after a restart.
type MemoryCursors struct {
	mu sync.Mutex
	m  map[string]events.Cursor
}

// LoadCursor implements CursorStore.
func (m *MemoryCursors) LoadCursor(_ context.Context, name string) (events.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[name], nil
}

// SaveCursor implements CursorStore.
func (m *MemoryCursors) SaveCursor(_ context.Context, name string, c events.Cursor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]events.Cursor{}
	}
	m.m[name] = c
	return nil
}

// Options configure a Tail. The zero value of each field picks its default.
type Options struct {
	// Name keys the persisted cursor; default "feed".
	Name string
	// Cursors persists the position; default an in-memory store.
	Cursors CursorStore
	// BatchSize is the page size read from the store; default 1,000.
	BatchSize int
	// PollInterval is the fallback wake-up when no notification arrives (stores
	// without a Notifier, or writers in another process); default 1 s.
	PollInterval time.Duration
	// RetryBackoff is the first wait after a failed read or handler; it doubles up
	// to 30 s. Default 100 ms.
	RetryBackoff time.Duration
	// Logger receives retry warnings; default slog.Default().
	Logger *slog.Logger
}

// Tail follows a Store's ReadAll.
type Tail struct {
	store   events.Store
	handler Handler
	opts    Options
}

// New returns a tail of store that delivers to h.
func New(store events.Store, h Handler, opts Options) *Tail {
	if opts.Name == "" {
		opts.Name = "feed"
	}
	if opts.Cursors == nil {
		opts.Cursors = &MemoryCursors{}
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Tail{store: store, handler: h, opts: opts}
}

// Run tails the store until ctx ends (returning nil) or the store is closed
// (returning an error wrapping events.ErrClosed). Transient errors are retried.
func (t *Tail) Run(ctx context.Context) error {
	// Subscribe before the first read so a commit between the read and the wait
	// still leaves a wake-up pending.
	var wake <-chan struct{}
	if n, ok := t.store.(events.Notifier); ok {
		ch, cancel := n.Subscribe()
		defer cancel()
		wake = ch
	}
	cursor, err := t.opts.Cursors.LoadCursor(ctx, t.opts.Name)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("feed %s: load cursor: %w", t.opts.Name, err)
	}
	backoff := t.opts.RetryBackoff
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	wait := func(d time.Duration, wake <-chan struct{}) bool {
		timer.Reset(d)
		defer func() {
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}()
		select {
		case <-ctx.Done():
			return false
		case <-wake:
			return true
		case <-timer.C:
			return true
		}
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		next, more, err := t.step(ctx, cursor)
		switch {
		case err == nil:
			backoff = t.opts.RetryBackoff
			cursor = next
			if more {
				continue
			}
			if !wait(t.opts.PollInterval, wake) {
				return nil
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, events.ErrClosed), errors.Is(err, events.ErrInvalidCursor):
			return fmt.Errorf("feed %s: %w", t.opts.Name, err)
		default:
			t.opts.Logger.Warn("feed: retrying", "feed", t.opts.Name, "error", err, "backoff", backoff)
			if !wait(backoff, nil) {
				return nil
			}
			backoff = min(backoff*2, 30*time.Second)
		}
	}
}

// step reads and handles one page. more reports whether to read again at once.
func (t *Tail) step(ctx context.Context, cursor events.Cursor) (events.Cursor, bool, error) {
	page, err := t.store.ReadAll(ctx, cursor, events.ReadOptions{Limit: t.opts.BatchSize})
	if err != nil {
		return cursor, false, fmt.Errorf("read after %q: %w", cursor, err)
	}
	if len(page.Events) > 0 {
		if err := t.handler(ctx, page.Events); err != nil {
			return cursor, false, fmt.Errorf("handle batch at %q: %w", cursor, err)
		}
	}
	if page.Next != cursor {
		if err := t.opts.Cursors.SaveCursor(ctx, t.opts.Name, page.Next); err != nil {
			return cursor, false, fmt.Errorf("save cursor: %w", err)
		}
	}
	// A full page may hide more events even when the store cannot tell.
	return page.Next, page.More || len(page.Events) == t.opts.BatchSize, nil
}
