package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	tx, err := e.backend.Begin(ctx)
	if err != nil {
		return fmt.Errorf("handle batch: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
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
		if err := e.apply(ctx, tx, r, batch, genOf, false, &stats[i]); err != nil {
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

type streamKey struct {
	tenant events.TenantID
	stream events.StreamID
}

// apply runs one projection over batch inside tx. Each stream's events are
// applied in version order from its checkpoint; events of types the projection
// does not handle still advance the checkpoint, so they are not mistaken for gaps.
func (e *Engine) apply(ctx context.Context, tx BackendTx, r *registered, batch []events.Event,
	genOf func(context.Context, events.TenantID) (int64, error), rebuild bool, st *batchStats) error {
	if !slices.ContainsFunc(batch, func(ev events.Event) bool { return r.handles[ev.Type] }) {
		return nil // nothing for this projection; checkpoints catch up on its next event
	}
	name := r.p.Name()
	groups := map[streamKey][]events.Event{}
	var order []streamKey
	handled := map[streamKey]bool{}
	for _, ev := range batch {
		k := streamKey{ev.TenantID, ev.StreamID}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], ev)
		if r.handles[ev.Type] {
			handled[k] = true
		}
	}
	// Where the backend allows it, the batch's writes collect in one overlay per
	// generation and reach the backend once at the end, so a key many events
	// touch (a tenant's totals) is written once per batch instead of once per
	// event. Backends that split a batch by stream (DynamoDB) need each stream's
	// writes as they happen.
	coalesce := false
	if c, ok := tx.(WriteCoalescer); ok {
		coalesce = c.CoalescesWrites()
	}
	batchWrites := map[int64]*overlay{}
	var gens []int64
	scratch := newOverlay(nil) // each event's writes, reused from event to event
	for _, k := range order {
		if !handled[k] {
			continue // nothing for this projection; its checkpoint catches up on the next handled event
		}
		evs := groups[k]
		slices.SortStableFunc(evs, func(a, b events.Event) int { return cmp.Compare(a.Version, b.Version) })
		gen, err := genOf(ctx, k.tenant)
		if err != nil {
			return err
		}
		rm := tx.ReadModel(name, gen)
		if coalesce {
			ov, ok := batchWrites[gen]
			if !ok {
				ov = newOverlay(rm)
				batchWrites[gen] = ov
				gens = append(gens, gen)
			}
			rm = ov
		}
		cp, err := tx.Checkpoint(ctx, name, gen, k.tenant, k.stream)
		if err != nil {
			return fmt.Errorf("%s: checkpoint %s/%s: %w", name, k.tenant, k.stream, err)
		}
		start := cp
		for _, ev := range evs {
			if ev.Version <= cp {
				if r.handles[ev.Type] {
					st.skipped++
				}
				continue
			}
			if ev.Version > cp+1 {
				missing, err := e.store.Load(ctx, k.tenant, k.stream, cp+1)
				if err != nil {
					return fmt.Errorf("%s: fill gap %s/%s after version %d: %w", name, k.tenant, k.stream, cp, err)
				}
				for _, m := range missing {
					if m.Version >= ev.Version {
						break
					}
					if m.Version != cp+1 {
						continue
					}
					if err := e.applyOne(ctx, tx, rm, scratch, r, m, rebuild, st); err != nil {
						return err
					}
					cp = m.Version
				}
				if cp+1 != ev.Version {
					return fmt.Errorf("%s: fill gap %s/%s: store has no version %d", name, k.tenant, k.stream, cp+1)
				}
				st.gapFills++
			}
			if err := e.applyOne(ctx, tx, rm, scratch, r, ev, rebuild, st); err != nil {
				return err
			}
			cp = ev.Version
		}
		if cp != start {
			if err := tx.SetCheckpoint(ctx, name, gen, k.tenant, k.stream, cp); err != nil {
				return fmt.Errorf("%s: set checkpoint %s/%s: %w", name, k.tenant, k.stream, err)
			}
		}
	}
	for _, gen := range gens {
		if err := batchWrites[gen].flush(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// applyOne applies ev through a write buffer: on success the writes join the
// transaction; on failure they are dropped and the event is parked (live) or the
// rebuild fails.
func (e *Engine) applyOne(ctx context.Context, tx BackendTx, rm Tx, ov *overlay, r *registered, ev events.Event, rebuild bool, st *batchStats) error {
	if !r.handles[ev.Type] {
		return nil
	}
	ov.reset(rm)
	err := safeApply(ctx, r.p, ov, ev)
	if err == nil {
		if err := ov.flush(ctx); err != nil {
			return fmt.Errorf("%s: event %s: %w", r.p.Name(), ev.ID, err)
		}
		st.applied++
		st.recorded = append(st.recorded, ev.RecordedAt)
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: apply event %s: %w", r.p.Name(), ev.ID, ctx.Err())
	}
	if errors.Is(err, events.ErrUnavailable) {
		// The backend could not answer for now (out of space, throttled): the
		// event is not at fault. Failing the batch makes the feed redeliver it
		// after a backoff; parking it would skip it for good.
		return fmt.Errorf("%s: apply event %s: %w", r.p.Name(), ev.ID, err)
	}
	if rebuild {
		return fmt.Errorf("%s: apply event %s (%s %s/%s v%d): %w", r.p.Name(), ev.ID, ev.Type, ev.TenantID, ev.StreamID, ev.Version, err)
	}
	pe := ParkedEvent{
		Projection: r.p.Name(), EventID: ev.ID, Tenant: ev.TenantID, Stream: ev.StreamID,
		Version: ev.Version, Type: ev.Type, Reason: err.Error(), ParkedAt: e.clock.Now(),
	}
	if err := tx.Park(ctx, pe); err != nil {
		return fmt.Errorf("%s: park event %s: %w", r.p.Name(), ev.ID, err)
	}
	e.log.Warn("projection parked an event", "projection", pe.Projection, "event_id", pe.EventID,
		"tenant", string(pe.Tenant), "stream", string(pe.Stream), "version", pe.Version, "type", pe.Type, "reason", pe.Reason)
	st.parked++
	return nil
}

// safeApply turns a panicking projection into a parked event rather than a crashed server.
func safeApply(ctx context.Context, p Projection, tx Tx, ev events.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p.Apply(ctx, tx, ev)
}
