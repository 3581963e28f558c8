package commands

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// GetItem returns an item. It reflects every write acknowledged before it: it starts
// from the read model's copy and reads the stream for anything newer.
func (s *Service) GetItem(ctx context.Context, m Meta, tenantID, itemID string) (item.Item, error) {
	tenant, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return item.Item{}, err
	}
	if err := item.ValidateID(itemID); err != nil {
		return item.Item{}, err
	}
	if err := s.requireReadable(ctx, tenant); err != nil {
		return item.Item{}, err
	}
	it, err := s.loadItem(ctx, tenant, itemID)
	if err != nil {
		return item.Item{}, err
	}
	if it.Version == 0 || it.Deleted {
		return item.Item{}, domain.Errorf(domain.CodeNotFound, "no item %q", itemID)
	}
	return it, nil
}

// loadItem folds an item's current state; a missing item has version 0.
func (s *Service) loadItem(ctx context.Context, tenant events.TenantID, itemID string) (item.Item, error) {
	var it item.Item
	from := int64(1)
	if cached, ok := s.itemCache().get(tenant, itemID); ok {
		it, from = cached, cached.Version+1
	} else if s.Reader != nil {
		raw, err := s.Reader.Get(ctx, projections.ItemsProjection, tenant, projections.ItemsCollection, itemID)
		switch {
		case err == nil:
			if json.Unmarshal(raw, &it) == nil {
				from = it.Version + 1
			} else {
				it = item.Item{}
			}
		case errors.Is(err, projections.ErrNotFound):
		default:
			return item.Item{}, storeError("read item", err)
		}
	}
	evs, err := s.Store.Load(ctx, tenant, events.StreamID(item.StreamID(itemID)), from)
	if errors.Is(err, events.ErrNotFound) {
		return item.Item{}, nil
	}
	if err != nil {
		return item.Item{}, storeError("load item", err)
	}
	for _, ev := range evs {
		p, err := schema.Registry.Decode(ev)
		if err != nil {
			return item.Item{}, storeError("decode item", err)
		}
		it.Apply(ev.Version, p)
	}
	s.itemCache().put(tenant, it)
	return it, nil
}

func decodePut(ev events.Event) (item.Put, error) {
	return events.DecodeAs[item.Put](schema.Registry, ev)
}
