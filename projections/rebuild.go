package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantstream/tenantstream/events"
)

// Rebuild phases reported in Progress.
const (
	PhaseRebuilding = "rebuilding"
	PhaseCatchingUp = "catching up"
	PhaseSwitched   = "switched"
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
// so no live event falls between the two generations. An Apply error fails the
// rebuild and discards the new generation.
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
	defer func() {
		if err != nil {
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
			var st batchStats
			if err := rb.commit(ctx, page.Events, genOf, &st); err != nil {
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

func (rb *rebuilder) commit(ctx context.Context, evs []events.Event, genOf func(context.Context, events.TenantID) (int64, error), st *batchStats) error {
	tx, err := rb.e.backend.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := rb.e.apply(ctx, tx, rb.r, evs, genOf, true, st); err != nil {
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
