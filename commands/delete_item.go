package commands

import (
	"context"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
)

// DeleteItem deletes an item; ifMatch >= 0 requires that version.
func (s *Service) DeleteItem(ctx context.Context, m Meta, tenantID, itemID string, ifMatch int64) error {
	tenant, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return err
	}
	if err := item.ValidateID(itemID); err != nil {
		return err
	}
	_, _, err = s.writeItem(ctx, m, tenant, itemID, ifMatch, func(cur item.Item) (any, error) {
		if cur.Version == 0 || cur.Deleted {
			return nil, domain.Errorf(domain.CodeNotFound, "no item %q", itemID)
		}
		return &item.Deleted{ItemID: itemID, PrevSize: cur.Size(), At: s.Clock.Now()}, nil
	})
	return err
}
