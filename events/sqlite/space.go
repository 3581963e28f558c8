package sqlite

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/tenantstream/tenantstream/events"
)

// Running out of room (docs/ARCHITECTURE.md, "Running out of room"). A write that
// fails for lack of space rolls its whole batch back and answers every append of
// the batch with events.ErrStorageFull; nothing of it was acknowledged, so nothing
// is lost. The store then reports itself not writable (Writable) until a write
// commits again.

// NoSpace marks err as events.ErrStorageFull when SQLite or the OS says there is no
// room: SQLITE_FULL (a write of the WAL or the file hit ENOSPC, or the file reached
// max_page_count), or an I/O error whose errno is ENOSPC (growing the WAL index).
// The read-model store on SQLite (projections/sqlite) uses it too.
func NoSpace(err error) error {
	if err == nil || errors.Is(err, events.ErrStorageFull) {
		return err
	}
	var se sqlite3.Error
	full := errors.Is(err, syscall.ENOSPC)
	if errors.As(err, &se) {
		full = full || se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC
	}
	if full {
		return fmt.Errorf("%w: %w", events.ErrStorageFull, err)
	}
	return err
}

// noPageCap is SQLite's largest max_page_count, which is no cap at all.
const noPageCap = 4294967294

// SetMaxPages caps the database at n pages of 4 KiB (PRAGMA max_page_count; 0
// lifts the cap): appends that would grow it further fail with
// events.ErrStorageFull, as on a full disk. A cap below the current size holds the
// file at its size. It applies from the writer's next transaction. Tests use it to
// fill the store without filling a disk.
func (s *Store) SetMaxPages(n int64) { s.maxPages.Store(max(n, 0)) }

// applyMaxPages sets the cap asked for by SetMaxPages on the writer's connection
// (the pragma is per connection). Only the writer goroutine calls it.
func (s *Store) applyMaxPages() {
	n := s.maxPages.Load()
	if n == s.pagesSet {
		return
	}
	pages := n
	if pages == 0 {
		pages = noPageCap
	}
	if _, err := s.writer.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages), nil); err == nil {
		s.pagesSet = n
	}
}

// probeEvery is how long after the last write Writable tries a probe write of its
// own, rather than report the last write's outcome.
const probeEvery = time.Second

// probeBytes is the size of the probe's row: several pages, so that the probe needs
// the file and the WAL to grow as an append does.
const probeBytes = 16 << 10

// Writable reports whether the store can take appends: nil, or an error wrapping
// events.ErrStorageFull while the last write failed for lack of space. Then, if no
// write has been tried for probeEvery, it first tries one itself, so that the store
// becomes writable again once space is freed even when no client writes meanwhile
// (a load balancer sends none to an instance that is not ready). /readyz uses it.
func (s *Store) Writable(ctx context.Context) error {
	if !s.full.Load() {
		return nil
	}
	if time.Since(time.Unix(0, s.lastTry.Load())) >= probeEvery {
		if err := s.submitProbe(ctx); err != nil && !errors.Is(err, events.ErrStorageFull) {
			return fmt.Errorf("writable: %w", err)
		}
	}
	if s.full.Load() {
		return fmt.Errorf("writable: the last write failed: %w", events.ErrStorageFull)
	}
	return nil
}

// submitProbe queues a probe for the writer, as Append queues an append, and waits
// for its outcome.
func (s *Store) submitProbe(ctx context.Context) error {
	op := &appendOp{ctx: ctx, probe: true, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return events.ErrClosed
	}
	s.submitting.Add(1)
	s.mu.RUnlock()
	select {
	case s.queue <- op:
		s.submitting.Done()
	case <-ctx.Done():
		s.submitting.Done()
		return ctx.Err()
	}
	<-op.done
	return op.err
}

// runProbes answers the probes among batch with one probe write and returns the
// other ops, in order.
func (s *Store) runProbes(batch []*appendOp) []*appendOp {
	n := 0
	for _, op := range batch {
		if op.probe {
			n++
		}
	}
	if n == 0 {
		return batch
	}
	err := s.probe()
	ops := batch[:0]
	for _, op := range batch {
		if !op.probe {
			ops = append(ops, op)
			continue
		}
		op.err = err
		close(op.done)
	}
	clear(batch[len(ops):])
	return ops
}

// probe commits a transaction that inserts a row of probeBytes and deletes it
// again: it needs room as an append does, yet leaves no row behind and is never
// seen by a reader. Position -1 and the empty tenant are never an event's.
func (s *Store) probe() error {
	s.lastTry.Store(time.Now().UnixNano())
	if _, err := s.writer.Exec("BEGIN IMMEDIATE", nil); err != nil {
		return s.writeFailed(fmt.Errorf("probe: begin: %w", err))
	}
	_, err := s.writer.Exec(fmt.Sprintf(`INSERT INTO events (pos, tenant, stream, version, type, body) VALUES (-1, '', '', 0, '', zeroblob(%d));
		DELETE FROM events WHERE pos = -1`, probeBytes), nil)
	if err == nil {
		_, err = s.writer.Exec("COMMIT", nil)
	}
	if err != nil {
		_, _ = s.writer.Exec("ROLLBACK", nil)
		return s.writeFailed(fmt.Errorf("probe: %w", err))
	}
	s.full.Store(false)
	return nil
}

// writeFailed records a failed write's error, marked by noSpace, and returns it.
func (s *Store) writeFailed(err error) error {
	err = NoSpace(err)
	if errors.Is(err, events.ErrStorageFull) {
		s.full.Store(true)
	}
	return err
}
