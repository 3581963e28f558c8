package projections

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// ItemStats is a tenant's item totals.
type ItemStats struct {
	Bytes int64 `json:"bytes"`
	Items int64 `json:"items"`
}

// Names under which the items projection keeps its read model.
const (
	ItemsProjection = "items"
	// ItemsCollection holds a tenant's current items, keyed by item id.
	ItemsCollection = "items"
	// ItemStatsCollection holds the tenant's totals (ItemStats) under StorageKey.
	ItemStatsCollection = "stats"
	StorageKey          = "storage"
)

// Items keeps each tenant's current items, for listing and as the starting point
// of reads (which then read the stream for anything newer), and the tenant's
// stored bytes. The totals are sums of the deltas each event carries, and sums do
// not depend on the order of streams.
type Items struct{}

func init() { Register(Items{}) }

// Name implements Projection.
func (Items) Name() string { return ItemsProjection }

// Handles implements Projection.
func (Items) Handles() []string { return []string{item.TypePut, item.TypeDeleted} }

// Apply implements Projection.
func (Items) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	p, err := schema.Registry.Decode(ev)
	if err != nil {
		return err
	}
	switch e := p.(type) {
	case *item.Put:
		it := item.Item{}
		it.Apply(ev.Version, e)
		if err := tx.Put(ctx, ev.TenantID, ItemsCollection, e.ItemID, it.AppendJSON(nil)); err != nil {
			return err
		}
		var created int64
		if e.PrevSize == 0 { // data is at least "{}", so 0 means the item did not exist
			created = 1
		}
		return addStats(ctx, tx, ev.TenantID, e.Size-e.PrevSize, created)
	case *item.Deleted:
		if err := tx.Delete(ctx, ev.TenantID, ItemsCollection, e.ItemID); err != nil {
			return err
		}
		return addStats(ctx, tx, ev.TenantID, -e.PrevSize, -1)
	}
	return nil
}

// addStats adds deltas to the tenant's totals.
func addStats(ctx context.Context, tx Tx, tenant events.TenantID, bytes, items int64) error {
	var st ItemStats
	raw, err := tx.Get(ctx, tenant, ItemStatsCollection, StorageKey)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &st); err != nil {
			return err
		}
	case !errors.Is(err, ErrNotFound):
		return err
	}
	st.Bytes += bytes
	st.Items += items
	// The JSON of ItemStats, written by hand: this runs for every item event.
	b := make([]byte, 0, 48)
	b = append(b, `{"bytes":`...)
	b = strconv.AppendInt(b, st.Bytes, 10)
	b = append(b, `,"items":`...)
	b = strconv.AppendInt(b, st.Items, 10)
	return tx.Put(ctx, tenant, ItemStatsCollection, StorageKey, append(b, '}'))
}
