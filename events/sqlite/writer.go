package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/tenantstream/tenantstream/events"
)

// timePrecision is the precision of stored times: the codec keeps Unix microseconds,
// and Append truncates before answering so the caller sees exactly what Load returns.
const timePrecision = time.Microsecond

type appendOp struct {
	ctx  context.Context
	req  events.AppendRequest
	res  events.AppendResult
	err  error
	done chan struct{}
	// evs are the envelopes prepared by the appender; the writer fills in version,
	// recorded_at (and occurred_at when unset) and position.
	evs []events.Event
	// heads[i] is evs[i]'s encoded envelope head (see appendEnvelopeHead).
	heads [][]byte
	// wrote is set when the op committed, for the cache after the commit.
	wrote []events.Event
	// probe marks a probe write of Writable, which carries no request.
	probe bool
}

// insertSizes are the row counts of the prepared multi-row INSERTs, largest first;
// a batch is written with as few statements as these sizes allow.
var insertSizes = [...]int{64, 16, 4, 1}

type writeStmts struct {
	insert                                                     [len(insertSizes)]driver.Stmt
	head, idemGet, idemPut, idemPurge, rangeLoad, idGet, idPut driver.Stmt
	claims                                                     claimStmts
}

func (w *writeStmts) prepare(c *sqlite3.SQLiteConn) error {
	var err error
	prep := func(q string) driver.Stmt {
		if err != nil {
			return nil
		}
		var st driver.Stmt
		st, err = c.Prepare(q)
		return st
	}
	for i, n := range insertSizes {
		q := "INSERT INTO events (pos, tenant, stream, version, type, body) VALUES (?, ?, ?, ?, ?, ?)" +
			strings.Repeat(", (?, ?, ?, ?, ?, ?)", n-1)
		w.insert[i] = prep(q)
	}
	w.head = prep(`SELECT max(version) FROM events WHERE tenant = ? AND stream = ?`)
	w.idemGet = prep(idemSelect)
	// REPLACE: a row still present here has expired (findIdempotent answered
	// every live one), so the key starts over.
	w.idemPut = prep(`INSERT OR REPLACE INTO idempotency (tenant, key, stream, first_version, last_version, fingerprint, created) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	w.idemPurge = prep(`DELETE FROM idempotency WHERE (tenant, key) IN (SELECT tenant, key FROM idempotency WHERE created < ? LIMIT ` + fmt.Sprint(purgeChunk) + `)`)
	w.rangeLoad = prep(rangeSelect)
	w.idGet = prep(`SELECT 1 FROM event_ids WHERE tenant = ? AND id = ?`)
	w.idPut = prep(`INSERT INTO event_ids (tenant, id) VALUES (?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare writer statements: %w", err)
	}
	return nil
}

func (w *writeStmts) close() {
	w.claims.close()
	for _, st := range append(w.insert[:], w.head, w.idemGet, w.idemPut, w.idemPurge, w.rangeLoad, w.idGet, w.idPut) {
		if st != nil {
			_ = st.Close()
		}
	}
}

type streamKey struct {
	tenant events.TenantID
	stream events.StreamID
}

type idemKey struct {
	tenant events.TenantID
	key    string
}

// Append validates req and hands it to the writer, which commits it with whatever
// else is queued. It returns after the commit is durable (fsynced).
func (s *Store) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	if err := req.Validate(s.cfg.limits); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	if err := events.CheckScope(ctx, req.Tenant); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	op := &appendOp{ctx: ctx, req: req, done: make(chan struct{})}
	if err := op.prepare(); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, events.ErrClosed)
	}
	s.submitting.Add(1)
	s.mu.RUnlock()
	select {
	case s.queue <- op:
		s.submitting.Done()
	case <-ctx.Done():
		s.submitting.Done()
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, ctx.Err())
	}
	// Once queued the op is answered even if ctx ends: abandoning it here would
	// leave the caller unsure whether it committed, and the writer is never slow
	// for long.
	<-op.done
	if op.err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, op.err)
	}
	return op.res, nil
}

// prepare does, on the appender's goroutine, every part of building the envelopes
// that does not depend on the stream's head: ids, defaults, JSON compaction and
// the encoded envelope heads. The single writer is the throughput limit, so it is
// left with assigning versions and copying bytes.
func (op *appendOp) prepare() error {
	req := &op.req
	op.evs = make([]events.Event, len(req.Events))
	op.heads = make([][]byte, len(req.Events))
	size := 0
	for _, ne := range req.Events {
		size += len(ne.Data) + len(ne.ID) + len(ne.Type) + 36
	}
	meta := len(req.Tenant) + len(req.Stream) + len(req.StreamType) + len(req.CorrelationID) + len(req.CausationID) + len(req.Actor) + 16
	heads := make([]byte, 0, len(req.Events)*meta+size)
	data := make([]byte, 0, size)
	for i, ne := range req.Events {
		id := ne.ID
		if id == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return fmt.Errorf("event id: %w", err)
			}
			id = u.String()
		}
		sv := ne.SchemaVersion
		if sv == 0 {
			sv = 1
		}
		occ := ne.OccurredAt
		if !occ.IsZero() {
			occ = occ.UTC().Truncate(timePrecision)
		}
		start := len(data)
		data = events.AppendCompact(data, ne.Data)
		op.evs[i] = events.Event{
			ID: id, TenantID: req.Tenant, StreamID: req.Stream, StreamType: req.StreamType,
			Type: ne.Type, SchemaVersion: sv, OccurredAt: occ,
			CorrelationID: req.CorrelationID, CausationID: req.CausationID, Actor: req.Actor,
			Data: data[start:len(data):len(data)],
		}
		hs := len(heads)
		heads = appendEnvelopeHead(heads, &op.evs[i])
		op.heads[i] = heads[hs:len(heads):len(heads)]
	}
	return nil
}

// run is the single writer. Because it is the only writer and commits batches one
// after another, row ids (positions) become visible in increasing order: a reader
// that has seen position p has seen every position below p, which is what makes
// "pos > cursor" tails and replays skip nothing.
func (s *Store) run() {
	defer close(s.writerDone)
	heads := map[streamKey]int64{}
	batch := make([]*appendOp, 0, 256)
	for op := range s.queue {
		batch = append(batch[:0], op)
		n := len(op.req.Events)
		// Appenders woken by the previous commit are usually about to queue again;
		// yielding a moment lets them join this batch instead of paying for a
		// commit (an fsync) of their own. A yield costs microseconds, an fsync far more.
		for range 4 {
			if len(s.queue) >= s.cfg.maxBatchEvents {
				break
			}
			runtime.Gosched()
		}
	drain:
		for n < s.cfg.maxBatchEvents {
			select {
			case op, ok := <-s.queue:
				if !ok {
					break drain
				}
				batch = append(batch, op)
				n += len(op.req.Events)
			default:
				break drain
			}
		}
		// The head cache only saves a query per append; bound it crudely.
		if len(heads) > 100_000 {
			clear(heads)
		}
		s.applyMaxPages()
		if batch = s.runProbes(batch); len(batch) > 0 {
			s.commitBatch(batch, heads)
		}
		for _, op := range batch {
			close(op.done)
		}
		clear(batch)
		s.purgeExpiredKeys()
	}
}

// purgeChunk bounds the expired idempotency keys one purge deletes, so a purge
// never holds the writer for long; purgeEvery is how often the writer looks.
const (
	purgeChunk = 1000
	purgeEvery = time.Minute
)

// purgeExpiredKeys deletes idempotency keys past events.IdempotencyKeyTTL, a
// chunk at a time, at most every purgeEvery while a chunk finds nothing more.
// Expired rows are ignored by Append anyway; this only keeps the table small.
// It runs on the writer goroutine after a commit, in its own transaction, and a
// failure is left for the next look.
func (s *Store) purgeExpiredKeys() {
	now := s.cfg.clock.Now()
	if now.Sub(s.lastPurge) < purgeEvery {
		return
	}
	res, err := stmtExec(s.wstmt.idemPurge, named(now.Add(-events.IdempotencyKeyTTL).UnixMicro()))
	if err != nil {
		return
	}
	if n, err := res.RowsAffected(); err == nil && n >= purgeChunk {
		return // more to delete: look again after the next batch
	}
	s.lastPurge = now
}

// errSkip marks an op that failed on its own (conflict, key reuse, cancelled) and
// wrote nothing, so the rest of its batch can still commit.
type opFailure struct{ err error }

func (e *opFailure) Error() string { return e.err.Error() }
func (e *opFailure) Unwrap() error { return e.err }

func (s *Store) commitBatch(batch []*appendOp, heads map[streamKey]int64) {
	now := s.cfg.clock.Now().UTC().Truncate(timePrecision)
	err := s.tryBatch(batch, heads, now)
	if err == nil {
		return
	}
	// Something other than a per-request failure went wrong (disk, constraint): the
	// whole transaction rolled back. Retry each request alone so one bad request
	// cannot fail its neighbours.
	clear(heads)
	if errors.Is(err, events.ErrStorageFull) {
		// Except for lack of space: alone, each would most likely fail again, at
		// the cost of a transaction each while the disk is full. Every op fails
		// (even one that failed on its own: that may rest on a rolled-back
		// write of the batch) and its client retries later.
		for _, op := range batch {
			op.err, op.res, op.wrote = err, events.AppendResult{}, nil
		}
		return
	}
	if len(batch) == 1 {
		batch[0].err = err
		return
	}
	for _, op := range batch {
		op.err, op.wrote = nil, nil
		if err := s.tryBatch([]*appendOp{op}, heads, now); err != nil {
			clear(heads)
			op.err = err
		}
	}
}

// tryBatch runs the ops in one transaction. It returns an error only when the
// transaction as a whole failed; per-op failures are stored in op.err.
func (s *Store) tryBatch(batch []*appendOp, heads map[streamKey]int64, now time.Time) error {
	s.lastTry.Store(time.Now().UnixNano())
	if _, err := s.writer.Exec("BEGIN IMMEDIATE", nil); err != nil {
		return s.writeFailed(fmt.Errorf("begin: %w", err))
	}
	pending := map[streamKey]int64{}
	keys := map[idemKey]*appendOp{}
	ids := map[idemKey]bool{}
	claims := map[idemKey]bool{}
	firstPos := s.nextPos
	w := &s.wbuf
	w.reset()
	// On SQLITE_FULL SQLite has usually rolled back already (ROLLBACK then only
	// says so). The writer's own state is undone too: positions here, heads and
	// op results by commitBatch; the caches and the window of recent events are
	// only fed after a commit.
	rollback := func(err error) error {
		_, _ = s.writer.Exec("ROLLBACK", nil)
		s.nextPos = firstPos
		return s.writeFailed(err)
	}
	for _, op := range batch {
		if err := s.applyOne(op, now, heads, pending, keys, ids, claims); err != nil {
			var f *opFailure
			if errors.As(err, &f) {
				op.err = f.err
				continue
			}
			return rollback(err)
		}
	}
	if err := s.insertRows(w); err != nil {
		return rollback(err)
	}
	if _, err := s.writer.Exec("COMMIT", nil); err != nil {
		return rollback(fmt.Errorf("commit: %w", err))
	}
	if len(w.rows) > 0 {
		s.full.Store(false) // there was room again
	}
	for k, v := range pending {
		heads[k] = v
	}
	for _, op := range batch {
		if op.err == nil && !op.res.Duplicate {
			s.cache.appended(streamKey{op.req.Tenant, op.req.Stream}, op.wrote)
		}
	}
	s.recent.committed(w.rows, s.nextPos-1)
	s.notify()
	return nil
}

func (s *Store) applyOne(op *appendOp, now time.Time, heads, pending map[streamKey]int64, keys map[idemKey]*appendOp, ids, claims map[idemKey]bool) error {
	req := &op.req
	if err := op.ctx.Err(); err != nil {
		return &opFailure{err}
	}
	sk := streamKey{req.Tenant, req.Stream}
	if req.IdempotencyKey != "" {
		ik := idemKey{req.Tenant, req.IdempotencyKey}
		if first, ok := keys[ik]; ok {
			if first.req.Stream != req.Stream || first.req.Fingerprint != req.Fingerprint {
				return &opFailure{fmt.Errorf("key %q: %w", req.IdempotencyKey, events.ErrIdempotencyKeyReuse)}
			}
			op.res = events.AppendResult{Events: first.res.Events, Duplicate: true}
			return nil
		}
		done, err := s.findIdempotent(op, now)
		if err != nil || done {
			return err
		}
	}
	skipped := 0
	if req.SkipDuplicateIDs {
		kept, err := s.dropKnownIDs(op, ids)
		if err != nil {
			return err
		}
		skipped = len(req.Events) - kept
		if kept == 0 {
			op.res = events.AppendResult{Skipped: skipped}
			return nil
		}
	}
	head, ok := pending[sk]
	if !ok {
		head, ok = heads[sk]
	}
	if !ok {
		var err error
		if head, err = s.readHead(sk); err != nil {
			return err
		}
		heads[sk] = head
	}
	if req.Expected != events.AnyVersion && int64(req.Expected) != head {
		return &opFailure{fmt.Errorf("expected version %d, stream is at %d: %w", req.Expected, head, events.ErrConcurrency)}
	}
	if len(req.ClaimKeys) > 0 {
		if err := s.claimKeys(req, claims); err != nil {
			return err
		}
	}
	// The rows are written with the rest of the batch (insertRows); positions are
	// assigned here because the writer is the only one and knows the last.
	evs := op.evs
	for i := range evs {
		ev := &evs[i]
		ev.Version = head + 1 + int64(i)
		ev.RecordedAt = now
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = now
		}
		ev.Position = s.nextPos
		s.nextPos++
		s.wbuf.add(op.heads[i], ev)
	}
	last := evs[len(evs)-1].Version
	if req.IdempotencyKey != "" {
		if _, err := stmtExec(s.wstmt.idemPut, named(string(req.Tenant), req.IdempotencyKey, string(req.Stream), head+1, last, req.Fingerprint, now.UnixMicro())); err != nil {
			return fmt.Errorf("record idempotency key: %w", err)
		}
		keys[idemKey{req.Tenant, req.IdempotencyKey}] = op
	}
	if req.SkipDuplicateIDs {
		for i := range evs {
			if _, err := stmtExec(s.wstmt.idPut, named(string(req.Tenant), evs[i].ID)); err != nil {
				return fmt.Errorf("record event id: %w", err)
			}
			ids[idemKey{req.Tenant, evs[i].ID}] = true
		}
	}
	pending[sk] = last
	op.res = events.AppendResult{Events: evs, Skipped: skipped}
	op.wrote = evs
	return nil
}

// dropKnownIDs keeps in op.evs (and op.heads) only the events whose ids the tenant
// does not hold yet, dropping repeats within the request and the batch too, and
// returns how many it kept. req.Events stays whole so Skipped can be counted.
func (s *Store) dropKnownIDs(op *appendOp, batchIDs map[idemKey]bool) (int, error) {
	req := &op.req
	evs, heads := op.evs[:0], op.heads[:0]
	seen := make(map[string]bool, len(op.evs))
	vals := make([]driver.Value, 1)
	for i, e := range op.evs {
		if seen[e.ID] || batchIDs[idemKey{req.Tenant, e.ID}] {
			continue
		}
		seen[e.ID] = true
		rows, err := stmtQuery(context.Background(), s.wstmt.idGet, named(string(req.Tenant), e.ID))
		if err != nil {
			return 0, fmt.Errorf("read event id: %w", err)
		}
		err = rows.Next(vals)
		_ = rows.Close()
		if isEOF(err) {
			evs, heads = append(evs, e), append(heads, op.heads[i])
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read event id: %w", err)
		}
	}
	clear(op.evs[len(evs):])
	op.evs, op.heads = evs, heads
	return len(evs), nil
}

// idemSelect reads a key's record: stream, first and last version, fingerprint
// and when it was first used.
const idemSelect = `SELECT stream, first_version, last_version, fingerprint, created FROM idempotency WHERE tenant = ? AND key = ?`

// rangeSelect reads versions first..last of a stream: what a key's append wrote.
const rangeSelect = `SELECT pos, body FROM events WHERE tenant = ? AND stream = ? AND version BETWEEN ? AND ? ORDER BY version`

// idemRow is a row of idemSelect.
type idemRow struct {
	stream      string
	first, last int64
	fingerprint string
	created     time.Time
}

// readIdem reads the tenant's key with st (an idemSelect); found is false when
// there is no row.
func readIdem(ctx context.Context, st driver.Stmt, tenant events.TenantID, key string) (idemRow, bool, error) {
	rows, err := stmtQuery(ctx, st, named(string(tenant), key))
	if err != nil {
		return idemRow{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	vals := make([]driver.Value, 5)
	err = rows.Next(vals)
	_ = rows.Close()
	if isEOF(err) {
		return idemRow{}, false, nil
	}
	if err != nil {
		return idemRow{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	var r idemRow
	r.stream, _ = vals[0].(string)
	r.first, _ = vals[1].(int64)
	r.last, _ = vals[2].(int64)
	r.fingerprint, _ = vals[3].(string)
	created, _ := vals[4].(int64)
	r.created = time.UnixMicro(created).UTC()
	return r, true, nil
}

// findIdempotent answers op from a committed append with the same key, if any
// that has not expired at now.
func (s *Store) findIdempotent(op *appendOp, now time.Time) (bool, error) {
	req := &op.req
	r, found, err := readIdem(context.Background(), s.wstmt.idemGet, req.Tenant, req.IdempotencyKey)
	if err != nil || !found || events.IdempotencyExpired(r.created, now) {
		return false, err
	}
	rec := events.IdempotencyRecord{Stream: events.StreamID(r.stream), Fingerprint: r.fingerprint}
	if !rec.Matches(req.Stream, req.Fingerprint) {
		return false, &opFailure{fmt.Errorf("key %q: %w", req.IdempotencyKey, events.ErrIdempotencyKeyReuse)}
	}
	rows, err := stmtQuery(context.Background(), s.wstmt.rangeLoad, named(string(req.Tenant), r.stream, r.first, r.last))
	if err != nil {
		return false, fmt.Errorf("read first result: %w", err)
	}
	evs, err := readEvents(rows, nil)
	if err != nil {
		return false, fmt.Errorf("read first result: %w", err)
	}
	op.res = events.AppendResult{Events: evs, Duplicate: true}
	return true, nil
}

func (s *Store) readHead(sk streamKey) (int64, error) {
	rows, err := stmtQuery(context.Background(), s.wstmt.head, named(string(sk.tenant), string(sk.stream)))
	if err != nil {
		return 0, fmt.Errorf("read head of %s: %w", sk.stream, err)
	}
	defer rows.Close()
	var v int64
	if err := scanInts(rows, &v); err != nil {
		return 0, fmt.Errorf("read head of %s: %w", sk.stream, err)
	}
	return v, nil
}

// readEvents reads (pos, body) rows, appending to dst, and closes rows.
func readEvents(rows driver.Rows, dst []events.Event) ([]events.Event, error) {
	defer rows.Close()
	vals := make([]driver.Value, 2)
	for {
		err := rows.Next(vals)
		if isEOF(err) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		pos, _ := vals[0].(int64)
		body, _ := vals[1].([]byte)
		dst = append(dst, events.Event{})
		ev := &dst[len(dst)-1]
		if err := decodeEnvelope(body, ev); err != nil {
			return dst, err
		}
		ev.Position = pos
	}
}

// rowBuf collects one batch's rows for insertRows, with their bodies in one buffer.
type rowBuf struct {
	body []byte
	rows []pendingRow
	args []driver.NamedValue
}

type pendingRow struct {
	ev     *events.Event
	lo, hi int // the body is body[lo:hi]
}

func (b *rowBuf) reset() {
	b.body = b.body[:0]
	clear(b.rows)
	b.rows = b.rows[:0]
}

func (b *rowBuf) add(head []byte, ev *events.Event) {
	lo := len(b.body)
	b.body = appendEnvelopeTail(append(b.body, head...), ev)
	b.rows = append(b.rows, pendingRow{ev: ev, lo: lo, hi: len(b.body)})
}

// insertRows writes the batch's rows with multi-row INSERTs: one statement per
// many rows saves a driver round trip and a VDBE start per row.
func (s *Store) insertRows(b *rowBuf) error {
	rows := b.rows
	for len(rows) > 0 {
		k := 0
		for insertSizes[k] > len(rows) {
			k++
		}
		n := insertSizes[k]
		args := b.args[:0]
		for _, r := range rows[:n] {
			ev := r.ev
			args = append(args,
				driver.NamedValue{Ordinal: len(args) + 1, Value: ev.Position},
				driver.NamedValue{Ordinal: len(args) + 2, Value: string(ev.TenantID)},
				driver.NamedValue{Ordinal: len(args) + 3, Value: string(ev.StreamID)},
				driver.NamedValue{Ordinal: len(args) + 4, Value: ev.Version},
				driver.NamedValue{Ordinal: len(args) + 5, Value: ev.Type},
				driver.NamedValue{Ordinal: len(args) + 6, Value: b.body[r.lo:r.hi:r.hi]},
			)
		}
		b.args = args
		if _, err := stmtExec(s.wstmt.insert[k], args); err != nil {
			ev := rows[0].ev
			return fmt.Errorf("insert %s v%d: %w", ev.StreamID, ev.Version, err)
		}
		rows = rows[n:]
	}
	clear(b.args)
	return nil
}
