package commands

import (
	"context"
	"encoding/json"

	"github.com/tenantstream/tenantstream/domain/item"
)

// ListItems returns a page of the tenant's items in id order from the read model,
// which may trail the latest writes by the projection lag.
func (s *Service) ListItems(ctx context.Context, m Meta, tenantID, after string, limit int) ([]item.Item, string, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return nil, "", err
	}
	entries, err := s.Reader.List(ctx, ItemsProjection, tid, ItemsCollection, after, limit+1)
	if err != nil {
		return nil, "", storeError("list items", err)
	}
	next := ""
	if len(entries) > limit {
		entries = entries[:limit]
		next = entries[len(entries)-1].Key
	}
	out := make([]item.Item, 0, len(entries))
	for _, e := range entries {
		var it item.Item
		if err := json.Unmarshal(e.Value, &it); err != nil {
			return nil, "", storeError("decode item", err)
		}
		out = append(out, it)
	}
	return out, next, nil
}
