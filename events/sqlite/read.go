package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/tenantstream/tenantstream/events"
)

const (
	defaultPageLimit = 1000
	maxPageLimit     = 10_000
)

// readConn is one read-only connection with its prepared statements. Reads never
// share the writer's connection, so they neither wait for nor delay a commit (WAL).
type readConn struct {
	c                                                               *sqlite3.SQLiteConn
	load, exists, all, tenant, headAll, headTenant, idem, rangeLoad driver.Stmt
	claims                                                          claimStmts
}

func openReader(drv *sqlite3.SQLiteDriver, path string) (*readConn, error) {
	c, err := drv.Open(path + "?_query_only=true&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("open reader: %w", err)
	}
	rc := &readConn{c: c.(*sqlite3.SQLiteConn)}
	prep := func(q string) driver.Stmt {
		if err != nil {
			return nil
		}
		var st driver.Stmt
		st, err = rc.c.Prepare(q)
		return st
	}
	rc.load = prep(`SELECT pos, body FROM events WHERE tenant = ? AND stream = ? AND version >= ? ORDER BY version`)
	rc.exists = prep(`SELECT count(*) FROM (SELECT 1 FROM events WHERE tenant = ? AND stream = ? LIMIT 1)`)
	rc.all = prep(`SELECT pos, body FROM events WHERE pos > ? ORDER BY pos LIMIT ?`)
	rc.tenant = prep(`SELECT pos, body FROM events WHERE tenant = ? AND pos > ? ORDER BY pos LIMIT ?`)
	rc.headAll = prep(`SELECT max(pos) FROM events`)
	rc.headTenant = prep(`SELECT max(pos) FROM events WHERE tenant = ?`)
	rc.idem = prep(idemSelect)
	rc.rangeLoad = prep(rangeSelect)
	if err != nil {
		rc.close()
		return nil, fmt.Errorf("prepare reader statements: %w", err)
	}
	return rc, nil
}

func (rc *readConn) close() {
	rc.claims.close()
	for _, st := range []driver.Stmt{rc.load, rc.exists, rc.all, rc.tenant, rc.headAll, rc.headTenant, rc.idem, rc.rangeLoad} {
		if st != nil {
			_ = st.Close()
		}
	}
	_ = rc.c.Close()
}

func (s *Store) acquire(ctx context.Context) (*readConn, error) {
	if s.isClosed.Load() {
		return nil, events.ErrClosed
	}
	select {
	case rc := <-s.readers:
		if s.isClosed.Load() {
			s.readers <- rc
			return nil, events.ErrClosed
		}
		return rc, nil
	case <-s.closing:
		return nil, events.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) release(rc *readConn) { s.readers <- rc }

// Idempotency implements events.Store: the key's row, if it has not expired by
// the store's clock, and the events its first append wrote.
func (s *Store) Idempotency(ctx context.Context, tenant events.TenantID, key string) (events.IdempotencyRecord, bool, error) {
	if err := tenant.Validate(); err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	if key == "" {
		return events.IdempotencyRecord{}, false, nil
	}
	rc, err := s.acquire(ctx)
	if err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	defer s.release(rc)
	r, found, err := readIdem(ctx, rc.idem, tenant, key)
	if err != nil || !found || events.IdempotencyExpired(r.created, s.cfg.clock.Now()) {
		return events.IdempotencyRecord{}, false, err
	}
	// Only the events the key's append wrote, not the stream's later history.
	rows, err := stmtQuery(ctx, rc.rangeLoad, named(string(tenant), r.stream, r.first, r.last))
	if err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: first result: %w", err)
	}
	evs, err := readEvents(rows, nil)
	if err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: first result: %w", err)
	}
	if n := r.last - r.first + 1; int64(len(evs)) != n {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: key %q names %d events, found %d", key, n, len(evs))
	}
	return events.IdempotencyRecord{
		Stream: events.StreamID(r.stream), Fingerprint: r.fingerprint, Created: r.created,
		Result: events.AppendResult{Events: evs, Duplicate: true},
	}, true, nil
}

// Load returns the stream's events from version from, served from the stream
// cache when possible. Returned events share their Data with the cache: callers
// must not modify Data in place (events are immutable anyway).
func (s *Store) Load(ctx context.Context, tenant events.TenantID, stream events.StreamID, from int64) ([]events.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := tenant.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := stream.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if s.isClosed.Load() {
		return nil, fmt.Errorf("load %s: %w", stream, events.ErrClosed)
	}
	from = max(from, 1)
	k := streamKey{tenant, stream}
	if evs, ok := s.cache.get(k); ok {
		return copyFrom(evs, from), nil
	}
	var t *ticket
	if from == 1 {
		t = s.cache.begin(k)
	}
	evs, err := s.loadDB(ctx, k, from)
	s.cache.finish(k, t, evs)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	return copyFrom(evs, from), nil
}

func (s *Store) loadDB(ctx context.Context, k streamKey, from int64) ([]events.Event, error) {
	rc, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer s.release(rc)
	rows, err := stmtQuery(ctx, rc.load, named(string(k.tenant), string(k.stream), from))
	if err != nil {
		return nil, err
	}
	evs, err := readEvents(rows, nil)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		if from == 1 {
			return nil, events.ErrNotFound
		}
		rows, err := stmtQuery(ctx, rc.exists, named(string(k.tenant), string(k.stream)))
		if err != nil {
			return nil, err
		}
		var n int64
		err = scanInts(rows, &n)
		_ = rows.Close()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, events.ErrNotFound
		}
	}
	return evs, nil
}

// copyFrom returns the events of a stream read from version evs[0].Version on,
// starting at version from, in a slice the caller owns.
func copyFrom(evs []events.Event, from int64) []events.Event {
	if len(evs) == 0 {
		return []events.Event{}
	}
	i := from - evs[0].Version
	if i >= int64(len(evs)) {
		return []events.Event{}
	}
	return append([]events.Event(nil), evs[max(i, 0):]...)
}

// ReadAll reads every tenant's history in position order. Unfiltered pages near
// the head come from memory (recentEvents).
func (s *Store) ReadAll(ctx context.Context, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := events.CheckUnscoped(ctx, "read all"); err != nil {
		return events.Page{}, err
	}
	if len(opts.Types) == 0 && ctx.Err() == nil && !s.isClosed.Load() {
		if pos, err := parseCursor(after); err == nil {
			if p, ok := s.recent.page(pos, pageLimit(opts.Limit)); ok {
				return p, nil
			}
		}
	}
	p, err := s.read(ctx, "", after, opts)
	if err != nil {
		return events.Page{}, fmt.Errorf("read all: %w", err)
	}
	return p, nil
}

// ReadTenant reads one tenant's history in position order.
func (s *Store) ReadTenant(ctx context.Context, tenant events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := tenant.Validate(); err != nil {
		return events.Page{}, fmt.Errorf("read tenant: %w", err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return events.Page{}, fmt.Errorf("read tenant: %w", err)
	}
	p, err := s.read(ctx, tenant, after, opts)
	if err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	return p, nil
}

// read pages through positions after the cursor. The page and the head position
// come from one read transaction (one WAL snapshot); since positions commit in
// increasing order, every position up to that head is visible in it, so Next may
// jump to the head past filtered-out events without skipping anything.
func (s *Store) read(ctx context.Context, tenant events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := ctx.Err(); err != nil {
		return events.Page{}, err
	}
	pos, err := parseCursor(after)
	if err != nil {
		return events.Page{}, err
	}
	limit := pageLimit(opts.Limit)
	rc, err := s.acquire(ctx)
	if err != nil {
		return events.Page{}, err
	}
	defer s.release(rc)
	if _, err := rc.c.Exec("BEGIN", nil); err != nil {
		return events.Page{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _, _ = rc.c.Exec("COMMIT", nil) }()

	var rows driver.Rows
	switch {
	case len(opts.Types) > 0:
		q, args := filteredQuery(tenant, pos, opts.Types, "")
		st, err := rc.c.Prepare(q + " ORDER BY pos LIMIT ?")
		if err != nil {
			return events.Page{}, fmt.Errorf("prepare: %w", err)
		}
		defer st.Close()
		args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: int64(limit + 1)})
		rows, err = stmtQuery(ctx, st, args)
		if err != nil {
			return events.Page{}, err
		}
	case tenant != "":
		rows, err = stmtQuery(ctx, rc.tenant, named(string(tenant), pos, int64(limit+1)))
	default:
		rows, err = stmtQuery(ctx, rc.all, named(pos, int64(limit+1)))
	}
	if err != nil {
		return events.Page{}, err
	}
	evs, err := readEvents(rows, make([]events.Event, 0, min(limit+1, 16)))
	if err != nil {
		return events.Page{}, err
	}
	if len(evs) > limit {
		evs = evs[:limit]
		return events.Page{Events: evs, Next: encodeCursor(evs[limit-1].Position), More: true}, nil
	}
	var head int64
	if tenant != "" {
		rows, err = stmtQuery(ctx, rc.headTenant, named(string(tenant)))
	} else {
		rows, err = stmtQuery(ctx, rc.headAll, nil)
	}
	if err != nil {
		return events.Page{}, err
	}
	err = scanInts(rows, &head)
	_ = rows.Close()
	if err != nil {
		return events.Page{}, err
	}
	if len(evs) > 0 {
		head = max(head, evs[len(evs)-1].Position)
	}
	return events.Page{Events: evs, Next: encodeCursor(max(pos, head))}, nil
}

// filteredQuery builds "SELECT pos, body ... WHERE pos > ? [AND tenant] [AND type IN]"
// plus extra conditions, with its arguments.
func filteredQuery(tenant events.TenantID, pos int64, types []string, extra string) (string, []driver.NamedValue) {
	var b strings.Builder
	args := []driver.NamedValue{{Ordinal: 1, Value: pos}}
	b.WriteString("SELECT pos, body FROM events WHERE pos > ?")
	if tenant != "" {
		b.WriteString(" AND tenant = ?")
		args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: string(tenant)})
	}
	b.WriteString(extra)
	if len(types) > 0 {
		b.WriteString(" AND type IN (")
		for i, t := range types {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: t})
		}
		b.WriteString(")")
	}
	return b.String(), args
}

// pageLimit is the number of events a page holds for a requested limit.
func pageLimit(limit int) int {
	if limit <= 0 {
		limit = defaultPageLimit
	}
	return min(limit, maxPageLimit)
}
