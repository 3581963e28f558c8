package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/sqlite"
)

// bulky writes 4 KiB per event, to fill the file quickly.
type bulky struct{}

func (bulky) Name() string      { return "bulky" }
func (bulky) Handles() []string { return []string{"n.added"} }
func (bulky) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	return tx.Put(ctx, ev.TenantID, "blobs", ev.ID, make([]byte, 4096))
}

// TestOutOfSpaceFailsTheBatchWithoutParking fills the read models' file to
// SQLite's max_page_count (a real SQLITE_FULL): the batch fails with
// events.ErrStorageFull, so the feed retries it, nothing is parked or half
// written, and with room again the same batch applies whole.
func TestOutOfSpaceFailsTheBatchWithoutParking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := open(t)
	store := memstore.New()
	batch := func(stream string, n int) []events.Event {
		evs := make([]events.NewEvent, n)
		for i := range evs {
			evs[i] = events.NewEvent{Type: "n.added", Data: json.RawMessage(`{}`)}
		}
		res, err := store.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: events.StreamID(stream), Expected: events.NoStream, Events: evs})
		require.NoError(t, err)
		return res.Events
	}
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: b, Projections: []projections.Projection{bulky{}}})
	require.NoError(t, err)
	require.NoError(t, engine.Handle(ctx, batch("before", 5)))

	require.NoError(t, sqlite.SetMaxPages(ctx, b, 1))
	full := batch("during", 50)
	err = engine.Handle(ctx, full)
	require.ErrorIs(t, err, events.ErrStorageFull)
	parked, err := engine.Parked(ctx, "bulky")
	require.NoError(t, err)
	assert.Empty(t, parked, "the events are fine: nothing is parked")
	for _, ev := range full {
		_, err := b.Get(ctx, "bulky", "t1", "blobs", ev.ID)
		require.ErrorIs(t, err, projections.ErrNotFound, "nothing of the failed batch is written")
	}

	require.NoError(t, sqlite.SetMaxPages(ctx, b, 0))
	require.NoError(t, engine.Handle(ctx, full), "the same batch, delivered again")
	for _, ev := range full {
		_, err := b.Get(ctx, "bulky", "t1", "blobs", ev.ID)
		require.NoError(t, err, fmt.Sprintf("event %d", ev.Version))
	}
	parked, err = engine.Parked(ctx, "bulky")
	require.NoError(t, err)
	assert.Empty(t, parked)
}
