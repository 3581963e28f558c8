package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
)

// PutItem stores an item's data (a JSON object) whole.
type PutItem struct {
	Tenant string
	ItemID string
	Data   json.RawMessage
	// IfMatch, when >= 0, is the version the item must be at (0: never existed);
	// IfMatchNone, IfMatchExists and IfMatchAbsent are the other preconditions.
	IfMatch int64
}

// PutItem runs the command and returns the stored item.
func (s *Service) PutItem(ctx context.Context, m Meta, c PutItem) (item.Item, error) {
	tenant, err := s.authorizeTenant(ctx, m, c.Tenant)
	if err != nil {
		return item.Item{}, err
	}
	if err := item.ValidateID(c.ItemID); err != nil {
		return item.Item{}, err
	}
	data := bytes.TrimSpace(c.Data)
	if len(data) > item.MaxDataBytes {
		return item.Item{}, domain.Errorf(domain.CodeTooLarge, "item data is %d bytes, limit %d", len(data), item.MaxDataBytes)
	}
	if len(data) < 2 || data[0] != '{' || !json.Valid(data) {
		return item.Item{}, domain.FieldError("body", "item data must be a JSON object")
	}
	data = compact(data)
	var put *item.Put
	ev, dup, err := s.writeItem(ctx, m, tenant, c.ItemID, c.IfMatch, func(cur item.Item) (any, error) {
		put = &item.Put{ItemID: c.ItemID, Data: data, Size: int64(len(data)), PrevSize: cur.Size(), At: s.Clock.Now()}
		return put, nil
	})
	if err != nil {
		return item.Item{}, err
	}
	if dup { // a retry answered from the first attempt: its data, not ours
		p, err := decodePut(ev)
		if err != nil {
			return item.Item{}, storeError("decode item", err)
		}
		put = &p
	}
	it := item.Item{ID: c.ItemID, Data: put.Data, Version: ev.Version, UpdatedAt: put.At}
	s.itemCache().put(tenant, it)
	return it, nil
}

// Item write preconditions other than an exact version (If-Match: "<version>").
const (
	IfMatchNone   int64 = -1 // no precondition
	IfMatchExists int64 = -2 // If-Match: *  (the item must exist)
	IfMatchAbsent int64 = -3 // If-None-Match: *  (the item must not exist: create only)
)

// checkPrecondition applies the wildcard preconditions to the current item.
func checkPrecondition(itemID string, ifMatch int64, cur item.Item) error {
	exists := cur.Version > 0 && !cur.Deleted
	switch {
	case ifMatch == IfMatchExists && !exists:
		return domain.Errorf(domain.CodePreconditionFailed, "item %q does not exist (If-Match: *)", itemID)
	case ifMatch == IfMatchAbsent && exists:
		return domain.Errorf(domain.CodePreconditionFailed, "item %q already exists (If-None-Match: *)", itemID)
	}
	return nil
}

// writeItem loads the item, builds its next event and appends it pinned to the
// version read, so the event's prev_size is exact. Without If-Match a conflicting
// writer is retried a few times; with If-Match a conflict is a failed precondition.
func (s *Service) writeItem(ctx context.Context, m Meta, tenant events.TenantID, itemID string, ifMatch int64, build func(cur item.Item) (any, error)) (events.Event, bool, error) {
	const attempts = 5
	for i := 0; ; i++ {
		cur, err := s.loadItem(ctx, tenant, itemID)
		if err != nil {
			return events.Event{}, false, err
		}
		if m.IdempotencyKey == "" {
			if err := checkPrecondition(itemID, ifMatch, cur); err != nil {
				return events.Event{}, false, err
			}
		}
		expected := events.Exactly(cur.Version)
		if ifMatch >= 0 {
			expected = events.Exactly(ifMatch)
		}
		// With an idempotency key the store decides: a retry of a write that already
		// succeeded must get the first answer, not a failed precondition.
		if ifMatch >= 0 && ifMatch != cur.Version && m.IdempotencyKey == "" {
			return events.Event{}, false, domain.Errorf(domain.CodePreconditionFailed, "item %q is at version %d, not %d", itemID, cur.Version, ifMatch)
		}
		payload, err := build(cur)
		if err != nil {
			return events.Event{}, false, err
		}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tenant, Stream: events.StreamID(item.StreamID(itemID)), StreamType: item.StreamType,
			Expected: expected, IdempotencyKey: m.IdempotencyKey, CorrelationID: m.CorrelationID,
			Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(payload)},
		})
		switch {
		case err == nil:
			if !res.Duplicate {
				s.Meter.CountItemWrite(tenant, res.Events[0].RecordedAt)
			}
			return res.Events[0], res.Duplicate, nil
		case errors.Is(err, events.ErrConcurrency) && ifMatch != IfMatchNone:
			return events.Event{}, false, domain.Errorf(domain.CodePreconditionFailed, "item %q was changed concurrently", itemID)
		case errors.Is(err, events.ErrConcurrency) && i+1 < attempts:
			continue
		default:
			return events.Event{}, false, storeError("write item", err)
		}
	}
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
