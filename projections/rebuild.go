package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tenantstream/tenantstream/events"
)

// Rebuild phases reported in Progress.
const (
	PhaseRebuilding = "rebuilding"
	PhaseCatchingUp = "catching up"
	// PhaseSettling follows the switch on a store with a settle window
	// (SettleWindower): the rebuild waits the window out, then applies the events
	// the store's reads showed late.
	PhaseSettling = "settling"
	PhaseSwitched = "switched"
)

// SettleWindower is implemented by stores whose history reads are eventually
// consistent (events/dynamodb): an event stamped at T may be missing from
// ReadAll and ReadTenant until T plus SettleWindow, and a cursor that has passed
// it still returns it once it shows. Rebuild waits the window out after a switch.
type SettleWindower interface {
	SettleWindow() time.Duration
}

// ErrConflict is wrapped by the error of a BackendTx.Commit that lost a race with
// another process's commit (a checkpoint or the generation state it read has
// changed; projections/dynamodb). The batch can be applied again: the checkpoints
// skip whatever the winner, or an earlier part of a split commit, applied.
var ErrConflict = errors.New("projections: checkpoint or generation changed concurrently")

// After the switch, a batch whose commit conflicts with a projector's is tried
// again this many times, waiting settleBackoff, then twice as long, and so on
// (with jitter), before the rebuild gives up.
const (
	settleRetries = 5
	settleBackoff = 20 * time.Millisecond
)

// RebuildOptions narrow and observe a rebuild.
type RebuildOptions struct {
	// Tenant rebuilds one tenant only; empty rebuilds all tenants.
	Tenant events.TenantID
	// BatchSize is the number of events read and committed per transaction; default 1,000.
	BatchSize int
	// Progress, when set, is called after every batch and at each phase change.
	Progress func(Progress)
}

// Progress reports a rebuild's advance. The store cannot count its events cheaply,
// so Head is the store's last position when it exposes one (0 otherwise).
type Progress struct {
	Projection string
	Tenant     events.TenantID
	Phase      string
	Read       int64
	Applied    int64
	Position   int64
	Head       int64
	Elapsed    time.Duration
	Done       bool
}

// ErrUnknownProjection is returned for a projection name the engine does not run.
var ErrUnknownProjection = errors.New("projections: unknown projection")

// ErrRebuildRunning is returned when the projection is already being rebuilt.
var ErrRebuildRunning = errors.New("projections: rebuild already running")

// Rebuild replays projection name from the store (not the feed, which may have
// expired) into a fresh generation, then switches to it atomically, so queries never
// see a half-built read model. Live batches keep going to the old generation; the
// last catch-up to the store's head and the switch happen under the engine's lock,
// so no live batch of this engine falls between the two generations. An Apply
// error before the switch fails the rebuild and discards the new generation.
//
// The lock cannot hold off other processes applying live events to the same
// backend (the projector functions on AWS), nor make a store's reads return what
// they do not show yet. An event such a process applies to the old generation
// before the switch may therefore be missing from the catch-up: it was committed
// after the last read, or the read did not show it yet. (A batch that chose the
// old generation and commits after the switch fails on a backend whose commit is
// conditioned on the generation, as projections/dynamodb's is without a fence,
// and its redelivery goes to the new generation; with a GenerationFencer it may
// commit to the old generation an event recorded within the fence.) So when the
// store is a SettleWindower or the backend a GenerationFencer, the rebuild, after
// the switch, reports PhaseSettling, waits until the settle window plus the fence
// has passed since the switch committed (wall time, honouring ctx), and reads on
// from its cursor into the now active generation until a read returns nothing:
// every event committed before the switch shows by then. Events the projectors
// have applied to the new generation meanwhile are skipped by the checkpoints,
// and a batch whose commit conflicts with theirs (ErrConflict) is retried a few
// times with backoff. A failure in this phase returns an error but keeps the
// switch (queries already read the new generation); rebuild again to repair it.
// Without a settle window a rebuild ends at the switch, as before.
func (e *Engine) Rebuild(ctx context.Context, name string, opts RebuildOptions) (err error) {
	r, ok := e.byName[name]
	if !ok {
		return fmt.Errorf("rebuild %s: %w", name, ErrUnknownProjection)
	}
	if opts.Tenant != "" {
		if err := opts.Tenant.Validate(); err != nil {
			return fmt.Errorf("rebuild %s: %w", name, err)
		}
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	e.mu.Lock()
	if e.rebuilding[name] {
		e.mu.Unlock()
		return fmt.Errorf("rebuild %s: %w", name, ErrRebuildRunning)
	}
	e.rebuilding[name] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.rebuilding, name)
		e.mu.Unlock()
	}()

	gen, err := e.newGeneration(ctx, name)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	switched := false
	defer func() {
		if err != nil && !switched {
			// The failed generation was never active; drop it even if ctx ended.
			if derr := e.backend.DiscardGeneration(context.WithoutCancel(ctx), name, gen); derr != nil {
				err = errors.Join(err, fmt.Errorf("discard generation %d: %w", gen, derr))
			}
		}
	}()

	rb := &rebuilder{e: e, r: r, gen: gen, opts: opts, started: e.clock.Now(),
		prog: Progress{Projection: name, Tenant: opts.Tenant, Phase: PhaseRebuilding}}
	if err := rb.drain(ctx); err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}

	e.mu.Lock()
	err = func() error {
		rb.prog.Phase = PhaseCatchingUp
		rb.report()
		if err := rb.drain(ctx); err != nil {
			return err
		}
		tx, err := e.backend.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if err := tx.SwitchGeneration(ctx, name, opts.Tenant, gen); err != nil {
			return fmt.Errorf("switch to generation %d: %w", gen, err)
		}
		return tx.Commit()
	}()
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	switched = true
	var window time.Duration
	if w, ok := e.store.(SettleWindower); ok {
		window = w.SettleWindow()
	}
	if f, ok := e.backend.(GenerationFencer); ok {
		// Live projectors may still hold the old generation's state: they send
		// the old generation only events recorded within the fence of their read,
		// which was before the switch (docs/ARCHITECTURE.md, "Generation fence").
		window += f.GenerationFence()
	}
	if window > 0 {
		if err := rb.settle(ctx, window); err != nil {
			// The old generations stay: the next rebuild drops them.
			return fmt.Errorf("rebuild %s: switched to generation %d, but applying the events the store showed late failed, "+
				"so it may miss events applied to the old generation during the rebuild (rebuild again): %w", name, gen, err)
		}
	}
	// The switch is committed: from here the rebuild has succeeded, and leftover old
	// data is only wasted space, so a failed clean-up is reported but not undone.
	rb.prog.Phase, rb.prog.Done = PhaseSwitched, true
	rb.report()
	if derr := e.backend.DropGenerations(context.WithoutCancel(ctx), name, opts.Tenant, gen); derr != nil {
		e.log.Warn("rebuild: dropping old generations failed", "projection", name, "error", derr)
	}
	return nil
}

func (e *Engine) newGeneration(ctx context.Context, name string) (int64, error) {
	tx, err := e.backend.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	gen, err := tx.NewGeneration(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("new generation: %w", err)
	}
	return gen, tx.Commit()
}

type rebuilder struct {
	e       *Engine
	r       *registered
	gen     int64
	opts    RebuildOptions
	cursor  events.Cursor
	started time.Time
	prog    Progress
	// retryConflicts is set after the switch, when projectors apply live events
	// to the generation the rebuild writes.
	retryConflicts bool
}

func (rb *rebuilder) read(ctx context.Context) (events.Page, error) {
	ro := events.ReadOptions{Limit: rb.opts.BatchSize}
	if rb.opts.Tenant != "" {
		return rb.e.store.ReadTenant(ctx, rb.opts.Tenant, rb.cursor, ro)
	}
	return rb.e.store.ReadAll(ctx, rb.cursor, ro)
}

// drain applies the store's history from the cursor until a read returns nothing.
func (rb *rebuilder) drain(ctx context.Context) error {
	genOf := func(context.Context, events.TenantID) (int64, error) { return rb.gen, nil }
	for {
		page, err := rb.read(ctx)
		if err != nil {
			return fmt.Errorf("read history: %w", err)
		}
		if len(page.Events) > 0 {
			st, err := rb.commitRetrying(ctx, page.Events, genOf)
			if err != nil {
				return err
			}
			rb.prog.Read += int64(len(page.Events))
			rb.prog.Applied += int64(st.applied)
			rb.prog.Position = max(rb.prog.Position, page.Events[len(page.Events)-1].Position)
		}
		rb.cursor = page.Next
		if len(page.Events) == 0 {
			return nil
		}
		rb.report()
	}
}

// settle waits until window has passed since the switch committed (settle is
// called right after it), then drains the events the store's reads had not shown
// into the generation, which is now active and also written by live projectors.
func (rb *rebuilder) settle(ctx context.Context, window time.Duration) error {
	// Wall time, not the engine's clock: a test clock may stand still, and the
	// store measures the window on a clock that runs.
	wait := time.NewTimer(window)
	defer wait.Stop()
	rb.prog.Phase = PhaseSettling
	rb.report()
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait %s for the store's reads to settle: %w", window, context.Cause(ctx))
	case <-wait.C:
	}
	rb.retryConflicts = true
	return rb.drain(ctx)
}

// commitRetrying commits a batch; once retryConflicts is set, a commit that
// conflicts with another process's is tried again in a new transaction, whose
// checkpoints skip what the other process applied.
func (rb *rebuilder) commitRetrying(ctx context.Context, evs []events.Event, genOf func(context.Context, events.TenantID) (int64, error)) (batchStats, error) {
	backoff := settleBackoff
	for attempt := 1; ; attempt++ {
		var st batchStats
		err := rb.commit(ctx, evs, genOf, &st)
		if err == nil || !rb.retryConflicts || !errors.Is(err, ErrConflict) {
			return st, err
		}
		if attempt > settleRetries {
			return st, fmt.Errorf("commit conflicted %d times: %w", attempt, err)
		}
		rb.e.log.Info("rebuild: a batch conflicted with a concurrent commit; retrying",
			"projection", rb.r.p.Name(), "attempt", attempt, "error", err)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return st, fmt.Errorf("retry a conflicted commit: %w (after %w)", context.Cause(ctx), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

func (rb *rebuilder) commit(ctx context.Context, evs []events.Event, genOf func(context.Context, events.TenantID) (int64, error), st *batchStats) error {
	tx, err := rb.e.backend.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	run := &applyRun{e: rb.e, tx: tx, r: rb.r, genOf: genOf, rebuild: true, st: st}
	if err := run.apply(ctx, evs); err != nil {
		return err
	}
	return tx.Commit()
}

func (rb *rebuilder) report() {
	if rb.opts.Progress == nil {
		return
	}
	if h, ok := rb.e.store.(interface {
		Head(context.Context) (int64, error)
	}); ok {
		if v, err := h.Head(context.Background()); err == nil {
			rb.prog.Head = v
		}
	}
	rb.prog.Elapsed = rb.e.clock.Now().Sub(rb.started)
	rb.opts.Progress(rb.prog)
}
