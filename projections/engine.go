package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
)

// EngineOptions configure an Engine.
type EngineOptions struct {
	// Store is read to fill version gaps and to rebuild. Required.
	Store events.Store
	// Backend holds read models and checkpoints. Required.
	Backend Backend
	// Projections to run; default Registered().
	Projections []Projection
	// Registerer receives the engine's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Clock stamps parked events and measures lag; default the system clock.
	Clock clock.Clock
	// Logger reports parked events; default slog.Default().
	Logger *slog.Logger
}

type registered struct {
	p       Projection
	handles map[string]bool
}

// Engine applies batches of events to every projection, keeping per-stream
// checkpoints so that duplicated and out-of-order delivery give the in-order result.
type Engine struct {
	store   events.Store
	backend Backend
	projs   []*registered
	byName  map[string]*registered
	clock   clock.Clock
	log     *slog.Logger
	m       *metrics

	// mu serializes Handle and the final catch-up and switch of a rebuild, so no
	// live batch lands between them.
	mu         sync.Mutex
	head       int64
	headAt     time.Time // when head was last read from the store
	rebuilding map[string]bool
}

// headEvery bounds how often Handle asks the store for its head position: the
// query runs after the commit, inside the measured lag, so doing it per batch
// (hundreds a second under load) would slow the very thing the gauge reports.
const headEvery = 100 * time.Millisecond

// headReader is implemented by stores that report their head position
// (events/sqlite, events/memstore).
type headReader interface {
	Head(ctx context.Context) (int64, error)
}

// NewEngine returns an engine; it fails when a metric cannot be registered.
func NewEngine(opts EngineOptions) (*Engine, error) {
	if opts.Store == nil || opts.Backend == nil {
		return nil, errors.New("new engine: Store and Backend are required")
	}
	if opts.Projections == nil {
		opts.Projections = Registered()
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new engine: register metrics: %w", err)
	}
	e := &Engine{
		store: opts.Store, backend: opts.Backend, clock: opts.Clock, log: opts.Logger, m: m,
		byName: map[string]*registered{}, rebuilding: map[string]bool{},
	}
	for _, p := range opts.Projections {
		if _, dup := e.byName[p.Name()]; dup {
			return nil, fmt.Errorf("new engine: projection %s given twice", p.Name())
		}
		r := &registered{p: p, handles: map[string]bool{}}
		for _, t := range p.Handles() {
			r.handles[t] = true
		}
		e.projs = append(e.projs, r)
		e.byName[p.Name()] = r
	}
	return e, nil
}

// Reader answers queries from the active generations.
func (e *Engine) Reader() Reader { return e.backend }

// Parked lists the events parked by projection.
func (e *Engine) Parked(ctx context.Context, projection string) ([]ParkedEvent, error) {
	return e.backend.Parked(ctx, projection)
}

// batchStats is what one projection did with one batch; metrics are updated from
// it only after the commit.
type batchStats struct {
	applied, skipped, parked, gapFills int
	recorded                           []time.Time
}

// Handle applies a batch to every projection in one backend transaction: the
// read-model writes and checkpoints commit together. Events may come in any order,
// duplicated, or with versions missing (they are loaded from the Store). An Apply
// error parks the event and processing goes on. An error return means nothing of
// the batch was committed, and the caller should redeliver it.
func (e *Engine) Handle(ctx context.Context, batch []events.Event) error {
	if len(batch) == 0 {
		return nil
	}
	start := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	// A commit that lost a race with another process's (ErrConflict: a
	// checkpoint, or a value this transaction read, changed meanwhile) wrote
	// nothing of its failing transaction; the batch is applied again from fresh
	// reads, where the checkpoints skip what the winner applied. This is how
	// concurrent projectors sharing a key (a tenant's item totals) lose no delta
	// (docs/ARCHITECTURE.md, "Projections").
	backoff := conflictBackoff
	for attempt := 1; ; attempt++ {
		err := e.handle(ctx, batch, start)
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= conflictAttempts {
			return err
		}
		e.m.conflicts.Inc()
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retry: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
		backoff *= 2
	}
}

// A batch whose commit conflicts is tried this many times in all, waiting
// conflictBackoff (with jitter), then twice as long, and so on.
const (
	conflictAttempts = 6
	conflictBackoff  = 5 * time.Millisecond
)

func (e *Engine) handle(ctx context.Context, batch []events.Event, start time.Time) error {
	tx, err := e.backend.Begin(ctx)
	if err != nil {
		return fmt.Errorf("handle batch: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if lb, ok := tx.(LiveBatch); ok {
		var newest time.Time
		for _, ev := range batch {
			if ev.RecordedAt.After(newest) {
				newest = ev.RecordedAt
			}
		}
		lb.ApplyingRecordedUntil(newest)
	}
	stats := make([]batchStats, len(e.projs))
	for i, r := range e.projs {
		gens := map[events.TenantID]int64{}
		genOf := func(ctx context.Context, tenant events.TenantID) (int64, error) {
			if g, ok := gens[tenant]; ok {
				return g, nil
			}
			g, err := tx.ActiveGeneration(ctx, r.p.Name(), tenant)
			if err != nil {
				return 0, fmt.Errorf("active generation: %w", err)
			}
			gens[tenant] = g
			return g, nil
		}
		run := &applyRun{e: e, tx: tx, r: r, genOf: genOf, st: &stats[i]}
		if err := run.apply(ctx, batch); err != nil {
			return fmt.Errorf("handle batch: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("handle batch: commit: %w", err)
	}
	now := e.clock.Now()
	maxPos := int64(0)
	for _, ev := range batch {
		maxPos = max(maxPos, ev.Position)
	}
	e.head = max(e.head, maxPos)
	if h, ok := e.store.(headReader); ok && now.Sub(e.headAt) >= headEvery {
		if v, err := h.Head(ctx); err == nil {
			e.head, e.headAt = max(e.head, v), now
		}
	}
	head := e.head
	for i, r := range e.projs {
		e.observe(r.p.Name(), stats[i], now)
		if maxPos > 0 {
			e.m.lagEvents.WithLabelValues(r.p.Name()).Set(float64(head - maxPos))
		}
	}
	e.m.batchSeconds.Observe(now.Sub(start).Seconds())
	return nil
}

func (e *Engine) observe(name string, s batchStats, now time.Time) {
	e.m.applied.WithLabelValues(name).Add(float64(s.applied))
	e.m.skipped.WithLabelValues(name).Add(float64(s.skipped))
	e.m.parked.WithLabelValues(name).Add(float64(s.parked))
	e.m.gapFills.WithLabelValues(name).Add(float64(s.gapFills))
	if len(s.recorded) == 0 {
		return
	}
	h := e.m.lagSeconds.WithLabelValues(name)
	for _, t := range s.recorded {
		h.Observe(now.Sub(t).Seconds())
	}
	e.m.behind.WithLabelValues(name).Set(now.Sub(s.recorded[len(s.recorded)-1]).Seconds())
}
