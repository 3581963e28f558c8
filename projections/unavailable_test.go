package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
)

// outage is a projection whose backend reads fail, as a backend out of space does,
// while down is set.
type outage struct{ down *atomic.Bool }

func (outage) Name() string      { return "outage" }
func (outage) Handles() []string { return []string{"n.added"} }
func (o outage) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	if o.down.Load() {
		return fmt.Errorf("read totals: %w", events.ErrStorageFull)
	}
	return tx.Put(ctx, ev.TenantID, "seen", ev.ID, []byte(`1`))
}

// TestBackendOutOfSpaceIsRetriedNotParked: an Apply that fails because the backend
// is out of space fails the batch (the feed delivers it again) and parks nothing;
// once there is room the same batch applies.
func TestBackendOutOfSpaceIsRetriedNotParked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	res, err := store.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.NoStream,
		Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(`{}`)}, {Type: "n.added", Data: json.RawMessage(`{}`)}}})
	require.NoError(t, err)
	down := &atomic.Bool{}
	down.Store(true)
	backend := projections.NewMemoryBackend()
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend, Projections: []projections.Projection{outage{down}}})
	require.NoError(t, err)

	err = engine.Handle(ctx, res.Events)
	require.ErrorIs(t, err, events.ErrStorageFull, "the batch fails, to be delivered again")
	parked, err := engine.Parked(ctx, "outage")
	require.NoError(t, err)
	assert.Empty(t, parked, "the events are fine: nothing is parked")

	down.Store(false)
	require.NoError(t, engine.Handle(ctx, res.Events))
	for _, ev := range res.Events {
		_, err := backend.Get(ctx, "outage", "t1", "seen", ev.ID)
		assert.NoError(t, err, "event %d applied on redelivery", ev.Version)
	}
	parked, err = engine.Parked(ctx, "outage")
	require.NoError(t, err)
	assert.Empty(t, parked)
}
