package projectiontest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
)

type config struct {
	seeds     int
	baseSeed  uint64
	maxBatch  int
	duplicate float64
}

// Option tunes Run.
type Option func(*config)

// Seeds sets how many shuffled runs of each kind Run makes (default 10).
func Seeds(n int) Option { return func(c *config) { c.seeds = n } }

// BaseSeed sets the first seed, to replay a reported failure (default 1).
func BaseSeed(s uint64) Option { return func(c *config) { c.baseSeed = s } }

// MaxBatch caps the random batch sizes of shuffled runs (default 50).
func MaxBatch(n int) Option { return func(c *config) { c.maxBatch = n } }

// Duplicates sets the fraction of events delivered twice (default 0.25).
func Duplicates(f float64) Option { return func(c *config) { c.duplicate = f } }

// Run applies history in order through the engine into a fresh in-memory backend,
// then delivers it shuffled (each stream's order kept) with duplicates, then
// shuffled with each stream's order broken too (the engine fills gaps from a
// memstore holding the history). Every run's read model and parked events must equal
// the in-order run's; a failure names the seed and the first difference.
//
// history must hold each stream's versions 1..n in order (the stream's order is
// what the store guarantees); its Positions are ignored.
func Run(t testing.TB, newProjection func() projections.Projection, history []events.Event, opts ...Option) {
	t.Helper()
	cfg := config{seeds: 10, baseSeed: 1, maxBatch: 50, duplicate: 0.25}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	store, stored, err := load(ctx, history)
	if err != nil {
		t.Errorf("projectiontest: %v", err)
		return
	}
	name := newProjection().Name()
	want, wantParked, err := replay(ctx, store, newProjection, [][]events.Event{stored}, true)
	if err != nil {
		t.Errorf("projectiontest %s: in-order run: %v", name, err)
		return
	}
	kinds := []struct {
		label      string
		keepStream bool
	}{
		{"shuffled (stream order kept), duplicated", true},
		{"shuffled (stream order broken), duplicated", false},
	}
	for _, k := range kinds {
		for i := range cfg.seeds {
			seed := cfg.baseSeed + uint64(i)
			rng := rand.New(rand.NewPCG(seed, 0x7e4a47))
			batches := deliveries(rng, stored, k.keepStream, cfg)
			got, gotParked, err := replay(ctx, store, newProjection, batches, false)
			if err != nil {
				t.Errorf("projectiontest %s: %s run, seed %d: %v", name, k.label, seed, err)
				return
			}
			if diff := firstDiff(want, got); diff != "" {
				t.Errorf("projectiontest %s: %s run, seed %d (replay with projectiontest.BaseSeed(%d)) differs from the in-order run: %s",
					name, k.label, seed, seed, diff)
				return
			}
			if !slices.Equal(wantParked, gotParked) {
				t.Errorf("projectiontest %s: %s run, seed %d: parked events %v, in order %v", name, k.label, seed, gotParked, wantParked)
				return
			}
		}
	}
}

// fixedClock stamps each appended event with its recorded_at from the history.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

// load appends history to a memstore and returns the stored envelopes, which are
// what the engine sees both when delivered and when it fills a gap.
func load(ctx context.Context, history []events.Event) (*memstore.Store, []events.Event, error) {
	clk := &fixedClock{}
	store := memstore.New(memstore.WithClock(clk))
	stored := make([]events.Event, 0, len(history))
	for _, ev := range history {
		clk.t = ev.RecordedAt
		res, err := store.Append(ctx, events.AppendRequest{
			Tenant: ev.TenantID, Stream: ev.StreamID, StreamType: ev.StreamType,
			Expected:      events.Exactly(ev.Version - 1),
			CorrelationID: ev.CorrelationID, CausationID: ev.CausationID, Actor: ev.Actor,
			Events: []events.NewEvent{{ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, OccurredAt: ev.OccurredAt, Data: ev.Data}},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("history event %s (%s/%s v%d): %w", ev.ID, ev.TenantID, ev.StreamID, ev.Version, err)
		}
		stored = append(stored, res.Events...)
	}
	return store, stored, nil
}

func replay(ctx context.Context, store events.Store, newProjection func() projections.Projection, batches [][]events.Event, oneByOne bool) ([]projections.DumpEntry, []string, error) {
	p := newProjection()
	backend := projections.NewMemoryBackend()
	eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend, Projections: []projections.Projection{p}})
	if err != nil {
		return nil, nil, err
	}
	for _, b := range batches {
		if oneByOne {
			for _, ev := range b {
				if err := eng.Handle(ctx, []events.Event{ev}); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		if err := eng.Handle(ctx, b); err != nil {
			return nil, nil, err
		}
	}
	dump, err := backend.Dump(ctx, p.Name())
	if err != nil {
		return nil, nil, err
	}
	parked, err := backend.Parked(ctx, p.Name())
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(parked))
	for i, pe := range parked {
		ids[i] = pe.EventID
	}
	sort.Strings(ids)
	return dump, ids, nil
}

// deliveries shuffles the stored events, adds duplicates and cuts random batches.
func deliveries(rng *rand.Rand, stored []events.Event, keepStream bool, cfg config) [][]events.Event {
	order := slices.Clone(stored)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	if keepStream {
		// Keep the shuffled interleaving of streams but put each stream's events
		// back in version order within the slots that stream got.
		type sk struct {
			t events.TenantID
			s events.StreamID
		}
		next := map[sk][]events.Event{}
		for _, ev := range stored {
			k := sk{ev.TenantID, ev.StreamID}
			next[k] = append(next[k], ev)
		}
		for i, ev := range order {
			k := sk{ev.TenantID, ev.StreamID}
			order[i] = next[k][0]
			next[k] = next[k][1:]
		}
	}
	out := slices.Clone(order)
	for _, ev := range order {
		if rng.Float64() < cfg.duplicate {
			// A duplicate after the original keeps the stream's order intact.
			idx := slices.IndexFunc(out, func(o events.Event) bool { return o.ID == ev.ID })
			if !keepStream {
				idx = rng.IntN(len(out))
			}
			at := idx + 1 + rng.IntN(len(out)-idx)
			out = slices.Insert(out, at, ev)
		}
	}
	var batches [][]events.Event
	for len(out) > 0 {
		n := min(len(out), 1+rng.IntN(max(cfg.maxBatch, 1)))
		batches = append(batches, out[:n])
		out = out[n:]
	}
	return batches
}

func firstDiff(want, got []projections.DumpEntry) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			w := want[i]
			return fmt.Sprintf("missing %s/%s/%s = %s", w.Tenant, w.Collection, w.Key, w.Value)
		case i >= len(want):
			g := got[i]
			return fmt.Sprintf("unexpected %s/%s/%s = %s", g.Tenant, g.Collection, g.Key, g.Value)
		}
		w, g := want[i], got[i]
		if w.Tenant != g.Tenant || w.Collection != g.Collection || w.Key != g.Key {
			return fmt.Sprintf("key %s/%s/%s where in order has %s/%s/%s", g.Tenant, g.Collection, g.Key, w.Tenant, w.Collection, w.Key)
		}
		if !bytes.Equal(w.Value, g.Value) {
			return fmt.Sprintf("%s/%s/%s = %s, in order %s", w.Tenant, w.Collection, w.Key, g.Value, w.Value)
		}
	}
	return ""
}
