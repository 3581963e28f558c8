package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

var (
	_ projections.Backend = (*Backend)(nil)
	_ projections.Dumper  = (*Backend)(nil)
)

const schema = `
CREATE TABLE IF NOT EXISTS read_models (
	projection TEXT NOT NULL, gen INTEGER NOT NULL, tenant TEXT NOT NULL,
	collection TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
	PRIMARY KEY (projection, gen, tenant, collection, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
	projection TEXT NOT NULL, gen INTEGER NOT NULL, tenant TEXT NOT NULL,
	stream TEXT NOT NULL, version INTEGER NOT NULL,
	PRIMARY KEY (projection, gen, tenant, stream)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS generations (
	projection TEXT NOT NULL, tenant TEXT NOT NULL, gen INTEGER NOT NULL,
	PRIMARY KEY (projection, tenant)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS generation_counters (
	projection TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parked (
	projection TEXT NOT NULL, event_id TEXT NOT NULL, tenant TEXT NOT NULL, stream TEXT NOT NULL,
	version INTEGER NOT NULL, type TEXT NOT NULL, reason TEXT NOT NULL, parked_at TEXT NOT NULL,
	PRIMARY KEY (projection, event_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feed_cursors (name TEXT PRIMARY KEY, cursor TEXT NOT NULL) WITHOUT ROWID;
`

// activeGen resolves the generation a tenant reads: its override, else the
// projection's default, else 1 (before any rebuild). ?1 projection, ?2 tenant.
const activeGen = `COALESCE((SELECT gen FROM generations WHERE projection = ?1 AND tenant = ?2),
	(SELECT gen FROM generations WHERE projection = ?1 AND tenant = ''), 1)`

// Backend is a projections.Backend on SQLite. One connection writes (SQLite has one
// writer anyway, and BEGIN IMMEDIATE avoids upgrade deadlocks); a pool reads
// concurrently thanks to WAL.
type Backend struct {
	w *sql.DB
	r *sql.DB
	// ws are the engine's hot statements, prepared once on the single writer
	// connection: preparing them per call was a quarter of the engine's CPU.
	ws [numStmts]*sql.Stmt

	// cps caches committed checkpoints (see cpCache); txMu is held by the open
	// transaction (see Begin).
	cps  cpCache
	txMu sync.Mutex

	// ck checkpoints the WAL in the background (see checkpointLoop).
	ck      *sql.DB
	stop    chan struct{}
	stopped sync.WaitGroup
	closeMu sync.Once
}

// checkpointInterval is how often the background checkpointer copies the WAL into
// the database file. SQLite's automatic checkpoint runs inside the commit that
// crosses 1,000 WAL pages and fsyncs there, stalling that batch (and the lag of
// every event behind it) by several milliseconds on a busy disk; this moves the
// fsyncs off the engine's path and keeps the WAL short.
const checkpointInterval = 200 * time.Millisecond

// connector opens connections with the read-model pragmas that go-sqlite3's DSN
// cannot express.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

func openDB(dsn string, autoCheckpoint bool) *sql.DB {
	drv := &sqlite3.SQLiteDriver{}
	if !autoCheckpoint {
		drv.ConnectHook = func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA wal_autocheckpoint = 0", nil)
			return err
		}
	}
	return sql.OpenDB(connector{dsn: dsn, drv: drv})
}

type stmtID int

const (
	stGet stmtID = iota
	stDelete
	stList
	stCheckpoint
	stActiveGen
	stSaveCursor
	stPutMany            // + index into manySizes
	stSetCheckpointsMany = stPutMany + stmtID(len(manySizes))
	numStmts             = stSetCheckpointsMany + stmtID(len(manySizes))
)

// manySizes are the row counts of the multi-row upserts, largest first: one
// statement per many rows saves database/sql's and cgo's per-call cost, which
// was most of what a read-model write or a checkpoint cost.
var manySizes = [...]int{64, 8, 1}

// stPutOne is the one-row upsert of a single Put.
const stPutOne = stPutMany + stmtID(len(manySizes)) - 1

const (
	putRow        = `(?, ?, ?, ?, ?, ?)`
	putTail       = ` ON CONFLICT (projection, gen, tenant, collection, key) DO UPDATE SET value = excluded.value`
	checkpointRow = `(?, ?, ?, ?, ?)`
	checkpointEnd = ` ON CONFLICT (projection, gen, tenant, stream) DO UPDATE SET version = excluded.version`
)

func manyRows(head, row, tail string, n int) string {
	return head + strings.Repeat(row+",", n-1) + row + tail
}

func init() {
	for i, n := range manySizes {
		stmtText[stPutMany+stmtID(i)] = manyRows(`INSERT INTO read_models (projection, gen, tenant, collection, key, value) VALUES `, putRow, putTail, n)
		stmtText[stSetCheckpointsMany+stmtID(i)] = manyRows(`INSERT INTO checkpoints (projection, gen, tenant, stream, version) VALUES `, checkpointRow, checkpointEnd, n)
	}
}

var stmtText = [numStmts]string{ // the multi-row ones are filled in by init
	stGet:    `SELECT value FROM read_models WHERE projection = ?1 AND tenant = ?2 AND gen = ?5 AND collection = ?3 AND key = ?4`,
	stDelete: `DELETE FROM read_models WHERE projection = ? AND gen = ? AND tenant = ? AND collection = ? AND key = ?`,
	stList: `SELECT key, value FROM read_models WHERE projection = ?1 AND tenant = ?2 AND gen = ?6
		AND collection = ?3 AND key > ?4 ORDER BY key LIMIT ?5`,
	stCheckpoint: `SELECT version FROM checkpoints WHERE projection = ? AND gen = ? AND tenant = ? AND stream = ?`,
	stActiveGen:  `SELECT ` + activeGen,
	stSaveCursor: `INSERT INTO feed_cursors (name, cursor) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor`,
}

// Open opens or creates the database at path (a separate file from the event store).
// synchronous=NORMAL is enough here: read models are derived data, and a lost last
// transaction takes its checkpoints with it, so the feed simply redelivers.
func Open(ctx context.Context, path string) (*Backend, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	w := openDB("file:"+path+"?"+q.Encode(), false)
	w.SetMaxOpenConns(1)
	if _, err := w.ExecContext(ctx, schema); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open read models %s: create schema: %w", path, err)
	}
	q.Del("_txlock")
	q.Set("_query_only", "true")
	// Readers run a handful of fixed queries (Get, List, ...) per request;
	// without a statement cache each one is parsed and planned again.
	q.Set("_stmt_cache_size", "16")
	r := openDB("file:"+path+"?"+q.Encode(), true)
	q.Del("_query_only")
	q.Del("_stmt_cache_size")
	ck := openDB("file:"+path+"?"+q.Encode(), false)
	ck.SetMaxOpenConns(1)
	b := &Backend{w: w, r: r, ck: ck, stop: make(chan struct{})}
	for i, q := range stmtText {
		var err error
		if b.ws[i], err = w.PrepareContext(ctx, q); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("open read models %s: prepare: %w", path, err)
		}
	}
	b.stopped.Add(1)
	go b.checkpointLoop()
	return b, nil
}

// checkpointLoop runs passive checkpoints, which never block the writer or
// readers.
func (b *Backend) checkpointLoop() {
	defer b.stopped.Done()
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		// A failed passive checkpoint leaves the WAL longer; the next tick retries.
		// One with nothing to copy does no I/O.
		_, _ = b.ck.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// Close implements projections.Backend.
func (b *Backend) Close() error {
	b.closeMu.Do(func() { close(b.stop) })
	b.stopped.Wait()
	errs := []error{b.ck.Close()}
	for _, st := range b.ws {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, b.r.Close(), b.w.Close())...)
}

// Begin implements projections.Backend.
// Transactions are serialized (one writer connection) and hold txMu from Begin
// until their checkpoints are in the cache, so no transaction reads the cache
// between another's commit and its cache update.
func (b *Backend) Begin(ctx context.Context) (projections.BackendTx, error) {
	b.txMu.Lock()
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		b.txMu.Unlock()
		return nil, fmt.Errorf("begin: %w", noSpace(err))
	}
	return &backendTx{tx: tx, b: b}, nil
}

// Get implements projections.Reader.
func (b *Backend) Get(ctx context.Context, projection string, tenant events.TenantID, collection, key string) ([]byte, error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("get %s/%s/%s: %w", projection, collection, key, err)
	}
	return get(ctx, b.r, `SELECT value FROM read_models WHERE projection = ?1 AND tenant = ?2 AND gen = `+activeGen+
		` AND collection = ?3 AND key = ?4`, projection, string(tenant), collection, key)
}

// AppliedVersion implements projections.AppliedVersionReader: the checkpoint of
// the stream in the active generation, as committed.
func (b *Backend) AppliedVersion(ctx context.Context, projection string, tenant events.TenantID, stream events.StreamID) (int64, error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return 0, fmt.Errorf("applied version %s/%s: %w", projection, stream, err)
	}
	var v int64
	err := b.r.QueryRowContext(ctx, `SELECT version FROM checkpoints WHERE projection = ?1 AND tenant = ?2 AND gen = `+activeGen+
		` AND stream = ?3`, projection, string(tenant), string(stream)).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("applied version %s/%s: %w", projection, stream, err)
	}
	return v, nil
}

// List implements projections.Reader.
func (b *Backend) List(ctx context.Context, projection string, tenant events.TenantID, collection, after string, limit int) ([]projections.Entry, error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", projection, collection, err)
	}
	return list(ctx, b.r, `SELECT key, value FROM read_models WHERE projection = ?1 AND tenant = ?2 AND gen = `+activeGen+
		` AND collection = ?3 AND key > ?4 ORDER BY key LIMIT ?5`, projection, string(tenant), collection, after, normLimit(limit))
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func get(ctx context.Context, q querier, query string, args ...any) ([]byte, error) {
	var v []byte
	err := q.QueryRowContext(ctx, query, args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get %v: %w", args[2:], projections.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %v: %w", args[2:], err)
	}
	return v, nil
}

func list(ctx context.Context, q querier, query string, args ...any) ([]projections.Entry, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %v: %w", args[2], err)
	}
	return scanEntries(rows, args[2])
}

func scanEntries(rows *sql.Rows, collection any) ([]projections.Entry, error) {
	defer rows.Close()
	var out []projections.Entry
	for rows.Next() {
		var e projections.Entry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			return nil, fmt.Errorf("list %v: %w", collection, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %v: %w", collection, err)
	}
	return out, nil
}

func normLimit(limit int) int {
	if limit <= 0 {
		return 1000
	}
	return limit
}

// Parked implements projections.Backend.
func (b *Backend) Parked(ctx context.Context, projection string) ([]projections.ParkedEvent, error) {
	rows, err := b.r.QueryContext(ctx, `SELECT event_id, tenant, stream, version, type, reason, parked_at
		FROM parked WHERE projection = ? ORDER BY parked_at, event_id`, projection)
	if err != nil {
		return nil, fmt.Errorf("parked %s: %w", projection, err)
	}
	defer rows.Close()
	var out []projections.ParkedEvent
	for rows.Next() {
		p := projections.ParkedEvent{Projection: projection}
		var at string
		if err := rows.Scan(&p.EventID, &p.Tenant, &p.Stream, &p.Version, &p.Type, &p.Reason, &at); err != nil {
			return nil, fmt.Errorf("parked %s: %w", projection, err)
		}
		if p.ParkedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("parked %s: parked_at %q: %w", projection, at, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DropGenerations implements projections.Backend.
func (b *Backend) DropGenerations(ctx context.Context, projection string, tenant events.TenantID, keep int64) error {
	b.txMu.Lock()
	defer b.txMu.Unlock()
	defer b.cps.clear()
	for _, table := range []string{"read_models", "checkpoints"} {
		q := `DELETE FROM ` + table + ` WHERE projection = ?1 AND gen <> ?2 AND (?3 = '' OR tenant = ?3)`
		if _, err := b.w.ExecContext(ctx, q, projection, keep, string(tenant)); err != nil {
			return fmt.Errorf("drop generations of %s: %w", projection, noSpace(err))
		}
	}
	return nil
}

// DiscardGeneration implements projections.Backend.
func (b *Backend) DiscardGeneration(ctx context.Context, projection string, gen int64) error {
	b.txMu.Lock()
	defer b.txMu.Unlock()
	defer b.cps.clear()
	for _, table := range []string{"read_models", "checkpoints"} {
		if _, err := b.w.ExecContext(ctx, `DELETE FROM `+table+` WHERE projection = ? AND gen = ?`, projection, gen); err != nil {
			return fmt.Errorf("discard generation %d of %s: %w", gen, projection, noSpace(err))
		}
	}
	return nil
}

// Dump implements projections.Dumper.
func (b *Backend) Dump(ctx context.Context, projection string) ([]projections.DumpEntry, error) {
	rows, err := b.r.QueryContext(ctx, `SELECT m.tenant, m.collection, m.key, m.value FROM read_models m
		WHERE m.projection = ?1 AND m.gen = COALESCE((SELECT gen FROM generations WHERE projection = ?1 AND tenant = m.tenant),
			(SELECT gen FROM generations WHERE projection = ?1 AND tenant = ''), 1)
		ORDER BY m.tenant, m.collection, m.key`, projection)
	if err != nil {
		return nil, fmt.Errorf("dump %s: %w", projection, err)
	}
	defer rows.Close()
	var out []projections.DumpEntry
	for rows.Next() {
		var d projections.DumpEntry
		if err := rows.Scan(&d.Tenant, &d.Collection, &d.Key, &d.Value); err != nil {
			return nil, fmt.Errorf("dump %s: %w", projection, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// LoadCursor implements feed.CursorStore, so the feed's position lives next to the
// checkpoints it feeds.
func (b *Backend) LoadCursor(ctx context.Context, name string) (events.Cursor, error) {
	var c string
	err := b.w.QueryRowContext(ctx, `SELECT cursor FROM feed_cursors WHERE name = ?`, name).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load cursor %s: %w", name, err)
	}
	return events.Cursor(c), nil
}

// SaveCursor implements feed.CursorStore.
func (b *Backend) SaveCursor(ctx context.Context, name string, c events.Cursor) error {
	_, err := b.ws[stSaveCursor].ExecContext(ctx, name, string(c))
	if err != nil {
		return fmt.Errorf("save cursor %s: %w", name, noSpace(err))
	}
	return nil
}

type cpKey struct {
	projection string
	gen        int64
	tenant     events.TenantID
	stream     events.StreamID
}

// maxCachedCheckpoints bounds the checkpoint cache (about 100 bytes an entry).
const maxCachedCheckpoints = 200_000

// cpCache holds checkpoints as committed. The engine reads a stream's checkpoint
// for every stream of every batch; with one event per stream per batch (many
// clients writing different items) those point reads were a fifth of the
// engine's CPU. Only this process writes the file (the data directory is locked)
// and the Backend has one writer connection, so the committed value cannot change
// behind the cache: a transaction's own writes go in after its commit, dropping
// them on rollback, and deleting generations clears the cache.
type cpCache struct {
	mu sync.Mutex
	m  map[cpKey]int64
}

func (c *cpCache) get(k cpKey) (int64, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *cpCache) add(kv map[cpKey]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(kv) > maxCachedCheckpoints {
		c.m = make(map[cpKey]int64, len(kv))
	}
	for k, v := range kv {
		c.m[k] = v
	}
}

func (c *cpCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

type backendTx struct {
	tx    *sql.Tx
	b     *Backend
	stmts [numStmts]*sql.Stmt
	// cps are the checkpoints this transaction read from the file or wrote; they
	// join the Backend's cache when it commits.
	cps map[cpKey]int64
	// dirty are the checkpoints set, written at Commit.
	dirty map[cpKey]int64
	done  bool // committed or rolled back: txMu released
}

// stmt returns the prepared statement bound to this transaction, and a context
// without cancellation: go-sqlite3 starts a goroutine per statement to watch a
// cancellable context, which for point reads and writes costs more than the
// statement. Cancellation is still honoured between statements.
func (t *backendTx) stmt(ctx context.Context, id stmtID) (*sql.Stmt, context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ctx = context.WithoutCancel(ctx)
	if t.stmts[id] == nil {
		t.stmts[id] = t.tx.StmtContext(ctx, t.b.ws[id])
	}
	return t.stmts[id], ctx, nil
}

func (t *backendTx) ReadModel(projection string, gen int64) projections.Tx {
	return &readModel{t: t, projection: projection, gen: gen}
}

func (t *backendTx) ActiveGeneration(ctx context.Context, projection string, tenant events.TenantID) (int64, error) {
	st, qctx, err := t.stmt(ctx, stActiveGen)
	if err != nil {
		return 0, fmt.Errorf("active generation of %s: %w", projection, noSpace(err))
	}
	var g int64
	if err := st.QueryRowContext(qctx, projection, string(tenant)).Scan(&g); err != nil {
		return 0, fmt.Errorf("active generation of %s: %w", projection, noSpace(err))
	}
	return g, nil
}
func (t *backendTx) NewGeneration(ctx context.Context, projection string) (int64, error) {
	var g int64
	// Generation 1 is the implicit first one, so the counter starts there.
	err := t.tx.QueryRowContext(ctx, `INSERT INTO generation_counters (projection, last) VALUES (?, 2)
		ON CONFLICT (projection) DO UPDATE SET last = last + 1 RETURNING last`, projection).Scan(&g)
	if err != nil {
		return 0, fmt.Errorf("new generation of %s: %w", projection, noSpace(err))
	}
	return g, nil
}

func (t *backendTx) SwitchGeneration(ctx context.Context, projection string, tenant events.TenantID, gen int64) error {
	stmts := []struct {
		q    string
		args []any
	}{
		{`DELETE FROM generations WHERE projection = ?1 AND (?2 = '' OR tenant = ?2)`, []any{projection, string(tenant)}},
		{`INSERT INTO generations (projection, tenant, gen) VALUES (?, ?, ?)`, []any{projection, string(tenant), gen}},
		{`DELETE FROM parked WHERE projection = ?1 AND (?2 = '' OR tenant = ?2)`, []any{projection, string(tenant)}},
	}
	for _, s := range stmts {
		if _, err := t.tx.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("switch %s to generation %d: %w", projection, gen, noSpace(err))
		}
	}
	return nil
}

func (t *backendTx) Checkpoint(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID) (int64, error) {
	k := cpKey{projection, gen, tenant, stream}
	if v, ok := t.cps[k]; ok {
		return v, nil
	}
	if v, ok := t.b.cps.get(k); ok {
		return v, nil
	}
	st, qctx, err := t.stmt(ctx, stCheckpoint)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s/%s: %w", tenant, stream, noSpace(err))
	}
	var v int64
	err = st.QueryRowContext(qctx, projection, gen, string(tenant), string(stream)).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("checkpoint %s/%s: %w", tenant, stream, noSpace(err))
	}
	t.remember(k, v)
	return v, nil
}

func (t *backendTx) remember(k cpKey, v int64) {
	if t.cps == nil {
		t.cps = map[cpKey]int64{}
	}
	t.cps[k] = v
}

// SetCheckpoint records the checkpoint in the transaction; the checkpoints set
// are written together at Commit (reads in the transaction see them at once).
func (t *backendTx) SetCheckpoint(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID, version int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set checkpoint %s/%s: %w", tenant, stream, err)
	}
	k := cpKey{projection, gen, tenant, stream}
	t.remember(k, version)
	if t.dirty == nil {
		t.dirty = map[cpKey]int64{}
	}
	t.dirty[k] = version
	return nil
}

// writeCheckpoints writes the checkpoints set in the transaction, many per statement.
func (t *backendTx) writeCheckpoints(ctx context.Context) error {
	if len(t.dirty) == 0 {
		return nil
	}
	rows := make([]any, 0, 5*len(t.dirty))
	for k, v := range t.dirty {
		rows = append(rows, k.projection, k.gen, string(k.tenant), string(k.stream), v)
	}
	if err := t.execMany(ctx, stSetCheckpointsMany, 5, rows); err != nil {
		return fmt.Errorf("set checkpoints: %w", noSpace(err))
	}
	return nil
}

// execMany runs the multi-row statement family base over rows (width values a
// row), largest statements first.
func (t *backendTx) execMany(ctx context.Context, base stmtID, width int, rows []any) error {
	for len(rows) > 0 {
		i := 0
		for manySizes[i]*width > len(rows) {
			i++
		}
		n := manySizes[i] * width
		st, qctx, err := t.stmt(ctx, base+stmtID(i))
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(qctx, rows[:n]...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (t *backendTx) Park(ctx context.Context, p projections.ParkedEvent) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO parked (projection, event_id, tenant, stream, version, type, reason, parked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (projection, event_id) DO UPDATE SET reason = excluded.reason, parked_at = excluded.parked_at`,
		p.Projection, p.EventID, string(p.Tenant), string(p.Stream), p.Version, p.Type, p.Reason, p.ParkedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("park %s: %w", p.EventID, noSpace(err))
	}
	return nil
}

// CoalescesWrites implements projections.WriteCoalescer: one SQLite transaction
// holds the whole batch, so its writes may arrive at the end.
func (t *backendTx) CoalescesWrites() bool { return true }

func (t *backendTx) Commit() error {
	if t.done {
		return fmt.Errorf("commit: %w", sql.ErrTxDone)
	}
	defer t.finish()
	if err := t.writeCheckpoints(context.Background()); err != nil {
		_ = t.tx.Rollback()
		return fmt.Errorf("commit: %w", noSpace(err))
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", noSpace(err))
	}
	if len(t.cps) > 0 {
		t.b.cps.add(t.cps)
	}
	return nil
}

func (t *backendTx) Rollback() error {
	defer t.finish()
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// finish releases the Backend's transaction lock, once.
func (t *backendTx) finish() {
	if !t.done {
		t.done = true
		t.b.txMu.Unlock()
	}
}

type readModel struct {
	t          *backendTx
	projection string
	gen        int64
}

func (r *readModel) Get(ctx context.Context, tenant events.TenantID, collection, key string) ([]byte, error) {
	st, qctx, err := r.t.stmt(ctx, stGet)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", collection, key, err)
	}
	var v []byte
	err = st.QueryRowContext(qctx, r.projection, string(tenant), collection, key, r.gen).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get %s/%s: %w", collection, key, projections.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", collection, key, noSpace(err))
	}
	return v, nil
}

func (r *readModel) Put(ctx context.Context, tenant events.TenantID, collection, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	st, qctx, err := r.t.stmt(ctx, stPutOne)
	if err == nil {
		_, err = st.ExecContext(qctx, r.projection, r.gen, string(tenant), collection, key, value)
	}
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", collection, key, noSpace(err))
	}
	return nil
}

// PutMany implements projections.BatchPutter: the values go in with multi-row
// upserts. Each key must appear once.
func (r *readModel) PutMany(ctx context.Context, entries []projections.DumpEntry) error {
	rows := make([]any, 0, 6*len(entries))
	for _, e := range entries {
		v := e.Value
		if v == nil {
			v = []byte{}
		}
		rows = append(rows, r.projection, r.gen, string(e.Tenant), e.Collection, e.Key, v)
	}
	if err := r.t.execMany(ctx, stPutMany, 6, rows); err != nil {
		return fmt.Errorf("put %d values: %w", len(entries), noSpace(err))
	}
	return nil
}

func (r *readModel) Delete(ctx context.Context, tenant events.TenantID, collection, key string) error {
	st, qctx, err := r.t.stmt(ctx, stDelete)
	if err == nil {
		_, err = st.ExecContext(qctx, r.projection, r.gen, string(tenant), collection, key)
	}
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", collection, key, noSpace(err))
	}
	return nil
}

func (r *readModel) List(ctx context.Context, tenant events.TenantID, collection, after string, limit int) ([]projections.Entry, error) {
	st, qctx, err := r.t.stmt(ctx, stList)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", collection, err)
	}
	rows, err := st.QueryContext(qctx, r.projection, string(tenant), collection, after, normLimit(limit), r.gen)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", collection, noSpace(err))
	}
	return scanEntries(rows, collection)
}
