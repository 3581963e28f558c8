package commands

import (
	"context"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
)

// DeleteItem deletes an item under the preconditions pre.
func (s *Service) DeleteItem(ctx context.Context, m Meta, tenantID, itemID string, pre Precondition) error {
	tenant, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return err
	}
	if err := s.requireWritable(ctx, m, tenant); err != nil {
		return err
	}
	if err := item.ValidateID(itemID); err != nil {
		return err
	}
	ev, dup, err := s.writeItem(ctx, m, tenant, itemID, pre, func(cur item.Item) (any, error) {
		if cur.Version == 0 || cur.Deleted {
			return nil, domain.Errorf(domain.CodeNotFound, "no item %q", itemID)
		}
		return &item.Deleted{ItemID: itemID, PrevSize: cur.Size(), At: s.Clock.Now()}, nil
	})
	if err == nil && dup && ev.Type != item.TypeDeleted {
		return errKeyReused
	}
	return err
}
