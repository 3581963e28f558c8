package projections

import (
	"context"
	"encoding/json"

	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Items keeps each tenant's current items, for listing and as the starting point
// of reads (which then read the stream for anything newer).
type Items struct{}

func init() { Register(Items{}) }

// Name implements Projection.
func (Items) Name() string { return "items" }

// Handles implements Projection.
func (Items) Handles() []string { return []string{item.TypePut, item.TypeDeleted} }

// Apply implements Projection: one stream per item, so only per-stream order matters.
func (Items) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	p, err := schema.Registry.Decode(ev)
	if err != nil {
		return err
	}
	switch e := p.(type) {
	case *item.Put:
		it := item.Item{}
		it.Apply(ev.Version, e)
		b, err := json.Marshal(it)
		if err != nil {
			return err
		}
		return tx.Put(ctx, ev.TenantID, "items", e.ItemID, b)
	case *item.Deleted:
		return tx.Delete(ctx, ev.TenantID, "items", e.ItemID)
	}
	return nil
}
