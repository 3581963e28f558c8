package projectiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// counter counts "n.added" events per tenant and fails on data {"poison":true}
// unless healed, to exercise parking and rebuilds.
type counter struct{ healed bool }

func (counter) Name() string      { return "counter" }
func (counter) Handles() []string { return []string{"n.added"} }
func (c *counter) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	n := 0
	if v, err := tx.Get(ctx, ev.TenantID, "c", "n"); err == nil {
		n, _ = strconv.Atoi(string(v))
	} else if !errors.Is(err, projections.ErrNotFound) {
		return err
	}
	if err := tx.Put(ctx, ev.TenantID, "c", "n", []byte(strconv.Itoa(n+1))); err != nil {
		return err
	}
	if err := tx.Put(ctx, ev.TenantID, "streams", string(ev.StreamID), []byte(strconv.FormatInt(ev.Version, 10))); err != nil {
		return err
	}
	if !c.healed && string(ev.Data) == `{"poison":true}` {
		return errors.New("poison event")
	}
	return nil
}

// BackendOption adjusts RunBackend.
type BackendOption func(*backendOptions)

type backendOptions struct {
	sibling func(t *testing.T, b projections.Backend) projections.Backend
}

// Sibling gives RunBackend a second handle on b's storage, as another process (a
// second projector) opens it. Without it, the race between two projectors runs
// two engines on b itself, which is right for a backend that one process owns.
func Sibling(f func(t *testing.T, b projections.Backend) projections.Backend) BackendOption {
	return func(o *backendOptions) { o.sibling = f }
}

// RunBackend is the contract every projections.Backend passes: the engine's
// checkpoints, parking and rebuilds through it, its transactions' isolation, and
// two projectors adding to one tenant's totals at once.
func RunBackend(t *testing.T, newBackend func(t *testing.T) projections.Backend, opts ...BackendOption) {
	var o backendOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.sibling == nil {
		o.sibling = func(_ *testing.T, b projections.Backend) projections.Backend { return b }
	}
	t.Run("concurrent totals lose no delta", func(t *testing.T) {
		t.Parallel()
		RaceTotals(t, newBackend(t), o.sibling)
	})
	t.Run("transaction isolation", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := newBackend(t)
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		rm := tx.ReadModel("p", 1)
		for i := range 5 {
			require.NoError(t, rm.Put(ctx, "t1", "c", fmt.Sprintf("k%d", i), []byte{byte('a' + i)}))
		}
		require.NoError(t, rm.Delete(ctx, "t1", "c", "k2"))
		got, err := rm.List(ctx, "t1", "c", "k0", 2)
		require.NoError(t, err)
		assert.Equal(t, []projections.Entry{{Key: "k1", Value: []byte("b")}, {Key: "k3", Value: []byte("d")}}, got)
		require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s", 7))
		require.NoError(t, tx.Rollback())

		_, err = b.Get(ctx, "p", "t1", "c", "k1")
		require.ErrorIs(t, err, projections.ErrNotFound, "rolled-back writes are invisible")
		tx, err = b.Begin(ctx)
		require.NoError(t, err)
		cp, err := tx.Checkpoint(ctx, "p", 1, "t1", "s")
		require.NoError(t, err)
		assert.Zero(t, cp)
		require.NoError(t, tx.ReadModel("p", 1).Put(ctx, "t1", "c", "k", []byte("v")))
		require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s", 3))
		require.NoError(t, tx.Commit())
		// A committed checkpoint survives a later transaction that moved it and
		// rolled back (backends that cache checkpoints must drop the moved value).
		for _, moved := range []int64{9, 0} {
			tx, err = b.Begin(ctx)
			require.NoError(t, err)
			cp, err = tx.Checkpoint(ctx, "p", 1, "t1", "s")
			require.NoError(t, err)
			assert.Equal(t, int64(3), cp)
			if moved > 0 {
				require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s", moved))
				cp, err = tx.Checkpoint(ctx, "p", 1, "t1", "s")
				require.NoError(t, err)
				assert.Equal(t, moved, cp, "a transaction reads its own checkpoint")
			}
			require.NoError(t, tx.Rollback())
		}
		v, err := b.Get(ctx, "p", "t1", "c", "k")
		require.NoError(t, err)
		assert.Equal(t, []byte("v"), v)
		_, err = b.Get(ctx, "p", "t2", "c", "k")
		require.ErrorIs(t, err, projections.ErrNotFound, "keys are scoped by tenant")
	})

	t.Run("applied version is the committed checkpoint of the active generation", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := newBackend(t)
		r, ok := b.(projections.AppliedVersionReader)
		require.True(t, ok, "the ledgers audit reads how far a stream was applied (projections.AppliedVersionReader)")
		applied := func(ctx context.Context, tenant events.TenantID) int64 {
			t.Helper()
			v, err := r.AppliedVersion(ctx, "p", tenant, "s")
			require.NoError(t, err)
			return v
		}
		assert.Zero(t, applied(ctx, "t1"), "nothing applied")
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s", 4))
		require.NoError(t, tx.Rollback())
		assert.Zero(t, applied(ctx, "t1"), "a rolled-back checkpoint is not applied")
		tx, err = b.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s", 4))
		require.NoError(t, tx.Commit())
		assert.Equal(t, int64(4), applied(ctx, "t1"))
		assert.Equal(t, int64(4), applied(events.WithTenantScope(ctx, "t1"), "t1"), "in the tenant's own scope too")
		assert.Zero(t, applied(ctx, "t2"), "checkpoints are per tenant")
		_, err = r.AppliedVersion(events.WithTenantScope(ctx, "t2"), "p", "t1", "s")
		require.ErrorIs(t, err, events.ErrOutOfScope, "another tenant's checkpoint is out of scope")

		// A switch to a fresh generation: nothing applied there yet.
		tx, err = b.Begin(ctx)
		require.NoError(t, err)
		gen, err := tx.NewGeneration(ctx, "p")
		require.NoError(t, err)
		require.NoError(t, tx.SetCheckpoint(ctx, "p", gen, "t1", "s", 2))
		require.NoError(t, tx.SwitchGeneration(ctx, "p", "", gen))
		require.NoError(t, tx.Commit())
		assert.Equal(t, int64(2), applied(ctx, "t1"), "the checkpoint of the generation queries read")
	})

	t.Run("tenant scope", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := newBackend(t)
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		for _, tenant := range []events.TenantID{"t1", "t2"} {
			require.NoError(t, tx.ReadModel("p", 1).Put(ctx, tenant, "c", "k", []byte(tenant)))
		}
		require.NoError(t, tx.Commit())
		scoped := events.WithTenantScope(ctx, "t1")
		v, err := b.Get(scoped, "p", "t1", "c", "k")
		require.NoError(t, err)
		assert.Equal(t, "t1", string(v))
		_, err = b.List(scoped, "p", "t1", "c", "", 10)
		require.NoError(t, err)
		_, err = b.Get(scoped, "p", "t2", "c", "k")
		require.ErrorIs(t, err, events.ErrOutOfScope, "a request scoped to t1 never reads t2")
		_, err = b.List(scoped, "p", "t2", "c", "", 10)
		require.ErrorIs(t, err, events.ErrOutOfScope)
	})

	t.Run("engine park, gap fill, rebuild", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := newBackend(t)
		store := memstore.New()
		add := func(tenant events.TenantID, stream events.StreamID, data string) events.Event {
			res, err := store.Append(ctx, events.AppendRequest{Tenant: tenant, Stream: stream, Expected: events.AnyVersion,
				Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(data)}}})
			require.NoError(t, err)
			return res.Events[0]
		}
		var evs []events.Event
		for i := range 6 {
			evs = append(evs, add(events.TenantID(fmt.Sprintf("t%d", i%2)), events.StreamID(fmt.Sprintf("s%d", i%3)), `{}`))
		}
		poison := add("t0", "s9", `{"poison":true}`)
		proj := &counter{}
		eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: b, Projections: []projections.Projection{proj}})
		require.NoError(t, err)

		// Deliver out of order with a duplicate and a gap: evs[5] first (t1/s2 v2 needs v1 = evs[2]).
		require.NoError(t, eng.Handle(ctx, []events.Event{evs[5], evs[0], evs[0]}))
		require.NoError(t, eng.Handle(ctx, append(evs, poison)))
		read := func(tenant events.TenantID) string {
			v, err := eng.Reader().Get(ctx, "counter", tenant, "c", "n")
			require.NoError(t, err)
			return string(v)
		}
		assert.Equal(t, "3", read("t0"), "the poison event's writes were dropped with it")
		assert.Equal(t, "3", read("t1"))
		parked, err := eng.Parked(ctx, "counter")
		require.NoError(t, err)
		require.Len(t, parked, 1)
		assert.Equal(t, poison.ID, parked[0].EventID)
		assert.Equal(t, "n.added", parked[0].Type)

		// A rebuild with the bug still there fails and leaves the live model alone.
		err = eng.Rebuild(ctx, "counter", projections.RebuildOptions{})
		require.ErrorContains(t, err, "poison event")
		assert.Equal(t, "3", read("t0"))

		proj.healed = true
		var phases []string
		err = eng.Rebuild(ctx, "counter", projections.RebuildOptions{Tenant: "t0", BatchSize: 2, Progress: func(p projections.Progress) {
			phases = append(phases, p.Phase)
		}})
		require.NoError(t, err)
		assert.Equal(t, "4", read("t0"), "the healed rebuild applies the once-poisoned event")
		assert.Equal(t, "3", read("t1"))
		assert.Contains(t, phases, projections.PhaseSwitched)
		parked, err = eng.Parked(ctx, "counter")
		require.NoError(t, err)
		assert.Empty(t, parked, "a rebuild clears the parked events it covers")

		// Live events after the switch land in the new generation, once.
		require.NoError(t, eng.Handle(ctx, []events.Event{add("t0", "s0", `{}`), poison}))
		assert.Equal(t, "5", read("t0"))
		require.NoError(t, eng.Rebuild(ctx, "counter", projections.RebuildOptions{}))
		assert.Equal(t, "5", read("t0"))
		assert.Equal(t, "3", read("t1"))
		if d, ok := b.(projections.Dumper); ok {
			dump, err := d.Dump(ctx, "counter")
			require.NoError(t, err)
			assert.Len(t, dump, 2+2+3+2, "only the active generation remains visible")
		}
	})
}

// RaceTotals has two projectors, one engine on b and one on sibling(b), apply
// item events of one tenant at the same time, each batch on streams of its own,
// and requires the tenant's item totals (the items projection's stats, a
// read-modify-write of one key) to hold every delta (docs/ARCHITECTURE.md,
// "Projections").
func RaceTotals(t *testing.T, b projections.Backend, sibling func(t *testing.T, b projections.Backend) projections.Backend) {
	t.Helper()
	ctx := context.Background()
	store := memstore.New()
	const projectors, rounds, perBatch = 2, 6, 3
	batches := make([][][]events.Event, projectors)
	var wantBytes int64
	for p := range projectors {
		for r := range rounds {
			var batch []events.Event
			for i := range perBatch {
				id := fmt.Sprintf("p%d-r%d-i%d", p, r, i)
				size := int64(10 + 7*p + 3*r + i)
				ne, err := schema.Registry.New(&item.Put{ItemID: id, Data: json.RawMessage(`{}`), Size: size, At: time.Unix(0, 0).UTC()})
				require.NoError(t, err)
				res, err := store.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: events.StreamID("item-" + id), StreamType: item.StreamType,
					Expected: events.NoStream, Events: []events.NewEvent{ne}})
				require.NoError(t, err)
				batch = append(batch, res.Events[0])
				wantBytes += size
			}
			batches[p] = append(batches[p], batch)
		}
	}
	backends := []projections.Backend{b, sibling(t, b)}
	var wg sync.WaitGroup
	errs := make([]error, projectors)
	for p := range projectors {
		eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backends[p], Projections: []projections.Projection{projections.Items{}}})
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, batch := range batches[p] {
				if errs[p] = eng.Handle(ctx, batch); errs[p] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	raw, err := b.Get(ctx, projections.ItemsProjection, "t1", projections.ItemStatsCollection, projections.StorageKey)
	require.NoError(t, err)
	var st projections.ItemStats
	require.NoError(t, json.Unmarshal(raw, &st))
	assert.Equal(t, projections.ItemStats{Bytes: wantBytes, Items: projectors * rounds * perBatch}, st, "no projector's delta is lost")
}
