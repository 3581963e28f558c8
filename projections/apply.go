package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tenantstream/tenantstream/events"
)

// applyRun is one projection applying one batch inside one backend transaction
// (decision 4): per stream, skip what the checkpoint has seen, fill a version gap
// from the store, apply, then move the checkpoint.
type applyRun struct {
	e     *Engine
	tx    BackendTx
	r     *registered
	genOf func(context.Context, events.TenantID) (int64, error)
	// rebuild makes a failing Apply fail the run instead of parking the event
	// (decision 5).
	rebuild bool
	st      *batchStats

	// Where the backend allows it, the batch's writes collect in one overlay per
	// generation and reach the backend once at the end, so a key many events
	// touch (a tenant's totals) is written once per batch instead of once per
	// event. Backends that split a batch by stream (DynamoDB) need each stream's
	// writes as they happen. (docs/ARCHITECTURE.md, "Projections".)
	coalesce    bool
	batchWrites map[int64]*overlay
	gens        []int64  // batchWrites' keys in first-use order
	scratch     *overlay // each event's writes, reused from event to event

	// The stream being applied and its generation, for EventSplitter.
	curKey streamKey
	curGen int64
}

// streamEvents are one stream's events of a batch.
type streamEvents struct {
	key     streamKey
	evs     []events.Event
	handled bool // some event is of a type the projection handles
}

type streamKey struct {
	tenant events.TenantID
	stream events.StreamID
}

// apply runs the projection over batch. Each stream's events are applied in
// version order from its checkpoint; events of types the projection does not
// handle still advance the checkpoint, so they are not mistaken for gaps.
func (a *applyRun) apply(ctx context.Context, batch []events.Event) error {
	if !slices.ContainsFunc(batch, func(ev events.Event) bool { return a.r.handles[ev.Type] }) {
		return nil // nothing for this projection; checkpoints catch up on its next event
	}
	if c, ok := a.tx.(WriteCoalescer); ok {
		a.coalesce = c.CoalescesWrites()
	}
	a.batchWrites = map[int64]*overlay{}
	a.gens = nil
	a.scratch = newOverlay(nil)
	for _, s := range a.handledStreams(batch) {
		if err := a.stream(ctx, s.key, s.evs); err != nil {
			return err
		}
	}
	return a.flush(ctx)
}

// handledStreams groups batch by stream, in the order streams first appear, and
// drops the streams with no event the projection handles: their checkpoints
// catch up on the next handled event.
func (a *applyRun) handledStreams(batch []events.Event) []streamEvents {
	at := map[streamKey]int{}
	var streams []streamEvents
	for _, ev := range batch {
		k := streamKey{ev.TenantID, ev.StreamID}
		i, ok := at[k]
		if !ok {
			i = len(streams)
			at[k] = i
			streams = append(streams, streamEvents{key: k})
		}
		streams[i].evs = append(streams[i].evs, ev)
		streams[i].handled = streams[i].handled || a.r.handles[ev.Type]
	}
	return slices.DeleteFunc(streams, func(s streamEvents) bool { return !s.handled })
}

// stream applies one stream's events in version order after its checkpoint and
// sets the checkpoint once, if it moved.
func (a *applyRun) stream(ctx context.Context, k streamKey, evs []events.Event) error {
	slices.SortStableFunc(evs, func(x, y events.Event) int { return cmp.Compare(x.Version, y.Version) })
	gen, rm, err := a.readModel(ctx, k.tenant)
	if err != nil {
		return err
	}
	name := a.r.p.Name()
	a.curKey, a.curGen = k, gen
	start, err := a.tx.Checkpoint(ctx, name, gen, k.tenant, k.stream)
	if err != nil {
		return fmt.Errorf("%s: checkpoint %s/%s: %w", name, k.tenant, k.stream, err)
	}
	cp := start
	for _, ev := range evs {
		if cp, err = a.next(ctx, rm, k, cp, ev); err != nil {
			return err
		}
	}
	if cp == start {
		return nil
	}
	if err := a.tx.SetCheckpoint(ctx, name, gen, k.tenant, k.stream, cp); err != nil {
		return fmt.Errorf("%s: set checkpoint %s/%s: %w", name, k.tenant, k.stream, err)
	}
	return nil
}

// readModel returns the tenant's active generation and the read model to write
// it through: the generation's batch overlay when writes coalesce.
func (a *applyRun) readModel(ctx context.Context, tenant events.TenantID) (int64, Tx, error) {
	gen, err := a.genOf(ctx, tenant)
	if err != nil {
		return 0, nil, err
	}
	rm := a.tx.ReadModel(a.r.p.Name(), gen)
	if !a.coalesce {
		return gen, rm, nil
	}
	ov, ok := a.batchWrites[gen]
	if !ok {
		ov = newOverlay(rm)
		a.batchWrites[gen] = ov
		a.gens = append(a.gens, gen)
	}
	return gen, ov, nil
}

// next applies ev to a stream whose checkpoint is cp and returns the new
// checkpoint: a version at or below cp was seen and is skipped, and one past
// cp+1 first has the versions between filled from the store (decision 4).
func (a *applyRun) next(ctx context.Context, rm Tx, k streamKey, cp int64, ev events.Event) (int64, error) {
	if ev.Version <= cp {
		if a.r.handles[ev.Type] {
			a.st.skipped++
		}
		return cp, nil
	}
	if ev.Version > cp+1 {
		var err error
		if cp, err = a.fillGap(ctx, rm, k, cp, ev.Version); err != nil {
			return cp, err
		}
	}
	if err := a.applyOne(ctx, rm, ev); err != nil {
		return cp, err
	}
	return ev.Version, nil
}

// fillGap loads the stream from the store after cp and applies the versions
// before upTo, returning the new checkpoint, upTo-1; the store must have every
// one of them.
func (a *applyRun) fillGap(ctx context.Context, rm Tx, k streamKey, cp, upTo int64) (int64, error) {
	name := a.r.p.Name()
	missing, err := a.e.store.Load(ctx, k.tenant, k.stream, cp+1)
	if err != nil {
		return cp, fmt.Errorf("%s: fill gap %s/%s after version %d: %w", name, k.tenant, k.stream, cp, err)
	}
	for _, m := range missing {
		if m.Version >= upTo {
			break
		}
		if m.Version != cp+1 {
			continue
		}
		if err := a.applyOne(ctx, rm, m); err != nil {
			return cp, err
		}
		cp = m.Version
	}
	if cp+1 != upTo {
		return cp, fmt.Errorf("%s: fill gap %s/%s: store has no version %d", name, k.tenant, k.stream, cp+1)
	}
	a.st.gapFills++
	return cp, nil
}

// flush hands the coalesced writes to the backend, one generation at a time.
func (a *applyRun) flush(ctx context.Context) error {
	for _, gen := range a.gens {
		if err := a.batchWrites[gen].flush(ctx); err != nil {
			return fmt.Errorf("%s: %w", a.r.p.Name(), err)
		}
	}
	return nil
}

// applyOne applies ev through a write buffer: on success the writes join the
// transaction; on failure they are dropped and the event is parked (live) or the
// rebuild fails.
func (a *applyRun) applyOne(ctx context.Context, rm Tx, ev events.Event) error {
	if !a.r.handles[ev.Type] {
		return nil
	}
	a.scratch.reset(rm)
	err := safeApply(ctx, a.r.p, a.scratch, ev)
	if err == nil {
		if err := a.scratch.flush(ctx); err != nil {
			return fmt.Errorf("%s: event %s: %w", a.r.p.Name(), ev.ID, err)
		}
		if err := a.eventDone(ctx, ev); err != nil {
			if !errors.Is(err, ErrTooManyWrites) || a.rebuild {
				return fmt.Errorf("%s: event %s: %w", a.r.p.Name(), ev.ID, err)
			}
			// The backend dropped the event's writes: they can never commit, and
			// failing the batch would redeliver it forever (docs/ARCHITECTURE.md,
			// "Projections").
			return a.park(ctx, ev, err)
		}
		a.st.applied++
		a.st.recorded = append(a.st.recorded, ev.RecordedAt)
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: apply event %s: %w", a.r.p.Name(), ev.ID, ctx.Err())
	}
	if errors.Is(err, events.ErrUnavailable) {
		// The backend could not answer for now (out of space, throttled): the
		// event is not at fault. Failing the batch makes the feed redeliver it
		// after a backoff; parking it would skip it for good.
		return fmt.Errorf("%s: apply event %s: %w", a.r.p.Name(), ev.ID, err)
	}
	if a.rebuild {
		return fmt.Errorf("%s: apply event %s (%s %s/%s v%d): %w", a.r.p.Name(), ev.ID, ev.Type, ev.TenantID, ev.StreamID, ev.Version, err)
	}
	return a.park(ctx, ev, err)
}

// eventDone tells a splitting backend that ev's writes are complete.
func (a *applyRun) eventDone(ctx context.Context, ev events.Event) error {
	sp, ok := a.tx.(EventSplitter)
	if !ok {
		return nil
	}
	return sp.EventDone(ctx, a.r.p.Name(), a.curGen, a.curKey.tenant, a.curKey.stream, ev.Version)
}

// park records ev as parked with the reason its Apply failed; live processing
// goes on (decision 4).
func (a *applyRun) park(ctx context.Context, ev events.Event, reason error) error {
	pe := ParkedEvent{
		Projection: a.r.p.Name(), EventID: ev.ID, Tenant: ev.TenantID, Stream: ev.StreamID,
		Version: ev.Version, Type: ev.Type, Reason: reason.Error(), ParkedAt: a.e.clock.Now(),
	}
	if err := a.tx.Park(ctx, pe); err != nil {
		return fmt.Errorf("%s: park event %s: %w", a.r.p.Name(), ev.ID, err)
	}
	if err := a.eventDone(ctx, ev); err != nil {
		return fmt.Errorf("%s: park event %s: %w", a.r.p.Name(), ev.ID, err)
	}
	a.e.log.Warn("projection parked an event", "projection", pe.Projection, "event_id", pe.EventID,
		"tenant", string(pe.Tenant), "stream", string(pe.Stream), "version", pe.Version, "type", pe.Type, "reason", pe.Reason)
	a.st.parked++
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
