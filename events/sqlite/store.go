package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
)

var (
	_ events.Store    = (*Store)(nil)
	_ events.Notifier = (*Store)(nil)
	_ events.Replayer = (*Store)(nil)
)

// migrations are applied in order; PRAGMA user_version records how many ran.
// Never edit one that has shipped: append a new one.
var migrations = []string{
	// 1: events keyed by row id (the store-wide position), the stream index that also
	// enforces one event per version, the tenant index for ReadTenant, and the
	// idempotency keys written in the same transaction as their events.
	`CREATE TABLE events (
		pos     INTEGER PRIMARY KEY,
		tenant  TEXT    NOT NULL,
		stream  TEXT    NOT NULL,
		version INTEGER NOT NULL,
		type    TEXT    NOT NULL,
		body    BLOB    NOT NULL
	);
	CREATE UNIQUE INDEX events_stream ON events (tenant, stream, version);
	CREATE INDEX events_tenant ON events (tenant, pos);
	CREATE TABLE idempotency (
		tenant        TEXT    NOT NULL,
		key           TEXT    NOT NULL,
		stream        TEXT    NOT NULL,
		first_version INTEGER NOT NULL,
		last_version  INTEGER NOT NULL,
		PRIMARY KEY (tenant, key)
	) WITHOUT ROWID;`,
	// 2: the event ids written by SkipDuplicateIDs appends (usage records), so a
	// retried record is recognised and skipped.
	`CREATE TABLE event_ids (
		tenant TEXT NOT NULL,
		id     TEXT NOT NULL,
		PRIMARY KEY (tenant, id)
	) WITHOUT ROWID;`,
	// 3: keys claimed by appends (AppendRequest.ClaimKeys), such as usage ids.
	`CREATE TABLE claimed_keys (
		tenant TEXT NOT NULL,
		key    TEXT NOT NULL,
		PRIMARY KEY (tenant, key)
	) WITHOUT ROWID;`,
	// 4: an idempotency key remembers the fingerprint of its request and when it
	// was first used (Unix microseconds), so a reuse for another request is refused
	// and keys expire after events.IdempotencyKeyTTL. Keys stored before this
	// migration count as used at the migration.
	`ALTER TABLE idempotency ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
	ALTER TABLE idempotency ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
	UPDATE idempotency SET created = CAST(strftime('%s', 'now') AS INTEGER) * 1000000;
	CREATE INDEX idempotency_created ON idempotency (created);`,
}

// Option configures a Store.
type Option func(*config)

type config struct {
	clock          clock.Clock
	limits         events.Limits
	readers        int
	cacheEvents    int
	maxBatchEvents int
	recentEvents   int
}

// WithClock sets the clock that stamps recorded_at (docs/ARCHITECTURE.md, decision 8).
func WithClock(c clock.Clock) Option { return func(o *config) { o.clock = c } }

// WithLimits overrides events.DefaultLimits.
func WithLimits(l events.Limits) Option { return func(o *config) { o.limits = l } }

// WithReaders sets the number of read-only connections (default 4).
func WithReaders(n int) Option { return func(o *config) { o.readers = max(n, 1) } }

// WithCacheEvents bounds the stream cache in events (default 100,000; 0 disables it).
func WithCacheEvents(n int) Option { return func(o *config) { o.cacheEvents = max(n, 0) } }

// WithRecentEvents sets how many of the last committed events ReadAll can answer
// from memory (default 8,192; 0 reads every page from the file).
func WithRecentEvents(n int) Option { return func(o *config) { o.recentEvents = max(n, 0) } }

// WithMaxBatchEvents caps the events one group commit writes (default 1,000).
func WithMaxBatchEvents(n int) Option { return func(o *config) { o.maxBatchEvents = max(n, 1) } }

// Store is an events.Store on one SQLite file. All appends go through one writer
// goroutine that commits whatever is queued in one transaction (group commit), so
// one fsync acknowledges many appends. Reads use separate read-only connections.
type Store struct {
	cfg    config
	writer *sqlite3.SQLiteConn
	wstmt  writeStmts
	// nextPos is the position the writer gives the next event; wbuf holds the
	// rows of the batch being written. Both belong to the writer goroutine.
	nextPos int64
	wbuf    rowBuf
	// lastPurge is when the writer last found no expired idempotency keys left.
	lastPurge time.Time
	queue     chan *appendOp

	// mu guards closed against Append submitting while Close closes the queue.
	mu         sync.RWMutex
	closed     bool
	submitting sync.WaitGroup
	writerDone chan struct{}
	closing    chan struct{}
	isClosed   atomic.Bool

	readers chan *readConn
	nreader int

	cache  *streamCache
	recent *recentEvents

	// full is set while the last write failed for lack of space (see Writable);
	// lastTry is when the writer last tried one (Unix ns). maxPages is the cap
	// asked for by SetMaxPages, pagesSet the one the writer's connection has.
	full     atomic.Bool
	lastTry  atomic.Int64
	maxPages atomic.Int64
	pagesSet int64

	subMu  sync.Mutex
	subs   map[int]chan struct{}
	nextID int
}

// Open opens (creating if needed) the store at path and migrates its schema.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := config{clock: clock.System{}, limits: events.DefaultLimits, readers: 4, cacheEvents: 100_000, maxBatchEvents: 1000, recentEvents: 8192}
	for _, o := range opts {
		o(&cfg)
	}
	drv := &sqlite3.SQLiteDriver{}
	// synchronous=FULL: an append is acknowledged only after its commit is fsynced.
	wc, err := drv.Open(path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w := wc.(*sqlite3.SQLiteConn)
	if err := migrate(w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{
		cfg: cfg, writer: w,
		queue:      make(chan *appendOp, 4096),
		writerDone: make(chan struct{}),
		closing:    make(chan struct{}),
		readers:    make(chan *readConn, cfg.readers),
		cache:      newStreamCache(cfg.cacheEvents),
		subs:       map[int]chan struct{}{},
	}
	if err := s.wstmt.prepare(w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var last int64
	if err := queryRow(context.Background(), w, "SELECT max(pos) FROM events", nil, &last); err != nil {
		s.wstmt.close()
		_ = w.Close()
		return nil, fmt.Errorf("open %s: read last position: %w", path, err)
	}
	s.nextPos = last + 1
	s.recent = newRecentEvents(cfg.recentEvents, last)
	for range cfg.readers {
		rc, err := openReader(drv, path)
		if err != nil {
			s.closeConns()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		s.readers <- rc
		s.nreader++
	}
	go s.run()
	return s, nil
}

func migrate(c *sqlite3.SQLiteConn) error {
	var v int64
	if err := queryRow(context.Background(), c, "PRAGMA user_version", nil, &v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > int64(len(migrations)) {
		return fmt.Errorf("schema version %d is newer than this build's %d", v, len(migrations))
	}
	for i := int(v); i < len(migrations); i++ {
		q := "BEGIN IMMEDIATE;" + migrations[i] + fmt.Sprintf(";PRAGMA user_version = %d;COMMIT;", i+1)
		if _, err := c.Exec(q, nil); err != nil {
			_, _ = c.Exec("ROLLBACK", nil)
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

// Close stops the writer after it has answered every queued append, then closes
// the connections. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return events.ErrClosed
	}
	s.closed = true
	s.isClosed.Store(true)
	close(s.closing)
	s.mu.Unlock()
	s.submitting.Wait()
	close(s.queue)
	<-s.writerDone
	// Take every reader back so no read is using a connection we close.
	for range s.nreader {
		rc := <-s.readers
		rc.close()
	}
	s.nreader = 0
	return s.closeConns()
}

func (s *Store) closeConns() error {
	for s.nreader > 0 {
		(<-s.readers).close()
		s.nreader--
	}
	s.wstmt.close()
	if err := s.writer.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// Subscribe returns a channel that receives after each committed batch; a slow
// subscriber misses wake-ups but never blocks the writer, and one pending wake-up
// is enough for a tail that then reads from its cursor.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	id := s.nextID
	s.nextID++
	s.subs[id] = ch
	s.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.subMu.Lock()
			delete(s.subs, id)
			s.subMu.Unlock()
		})
	}
}

func (s *Store) notify() {
	s.subMu.Lock()
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.subMu.Unlock()
}

// named converts plain values to driver arguments.
func named(args ...driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}

// queryRow runs a one-row query on a raw connection and scans int64 columns.
func queryRow(ctx context.Context, c *sqlite3.SQLiteConn, q string, args []driver.NamedValue, dst ...*int64) error {
	rows, err := c.QueryContext(ctx, q, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scanInts(rows, dst...)
}

// scanInts reads one row of integer (or NULL, read as 0) columns; io.EOF when none.
func scanInts(rows driver.Rows, dst ...*int64) error {
	vals := make([]driver.Value, len(dst))
	if err := rows.Next(vals); err != nil {
		return err
	}
	for i, v := range vals {
		switch x := v.(type) {
		case int64:
			*dst[i] = x
		case nil:
			*dst[i] = 0
		default:
			return fmt.Errorf("column %d: unexpected %T", i, v)
		}
	}
	return nil
}

func stmtQuery(ctx context.Context, st driver.Stmt, args []driver.NamedValue) (driver.Rows, error) {
	return st.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func stmtExec(st driver.Stmt, args []driver.NamedValue) (driver.Result, error) {
	// context.Background has no Done channel, so the driver runs the statement
	// inline instead of spawning a goroutine to watch for cancellation.
	return st.(driver.StmtExecContext).ExecContext(context.Background(), args)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

func defaultWorkers() int { return max(2, min(runtime.GOMAXPROCS(0), 8)) }
