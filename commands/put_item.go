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
	// If holds the write's preconditions (If-Match, If-None-Match).
	If Precondition
}

// PutItem runs the command and returns the stored item.
func (s *Service) PutItem(ctx context.Context, m Meta, c PutItem) (item.Item, error) {
	tenant, err := s.authorizeTenant(ctx, m, c.Tenant)
	if err != nil {
		return item.Item{}, err
	}
	if err := s.requireWritable(ctx, m, tenant); err != nil {
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
	ev, dup, err := s.writeItem(ctx, m, tenant, c.ItemID, c.If, func(cur item.Item) (any, error) {
		put = &item.Put{ItemID: c.ItemID, Data: data, Size: int64(len(data)), PrevSize: cur.Size(), At: s.Clock.Now()}
		return put, nil
	})
	if err != nil {
		return item.Item{}, err
	}
	if dup { // a retry answered from the first attempt: its data, not ours
		if ev.Type != item.TypePut {
			return item.Item{}, errKeyReused
		}
		p, err := decodePut(ev)
		if err != nil {
			return item.Item{}, storeError("decode item", err)
		}
		put = &p
	}
	it := item.Item{ID: c.ItemID, Data: put.Data, Version: ev.Version, UpdatedAt: put.At}
	if !dup {
		s.itemCache().put(tenant, it)
	}
	return it, nil
}

// writeItem loads the item, checks the preconditions, builds its next event and
// appends it pinned to the version read, so the event's prev_size is exact. A
// conflicting writer makes it read again and re-check, a few times.
//
// With an idempotency key the store is asked first: the retry of a write that
// succeeded gets the first answer (dup), and a key used for another request a
// 422. The preconditions are checked with or without a key; a write that fails
// them asks again, because a concurrent attempt of the same request may have
// committed in between.
func (s *Service) writeItem(ctx context.Context, m Meta, tenant events.TenantID, itemID string, pre Precondition, build func(cur item.Item) (any, error)) (events.Event, bool, error) {
	stream := events.StreamID(item.StreamID(itemID))
	first := func(cause error) (events.Event, bool, error) {
		res, ok, err := s.firstResult(ctx, m, tenant, stream)
		switch {
		case err != nil:
			return events.Event{}, false, err
		case ok:
			return res.Events[0], true, nil
		}
		return events.Event{}, false, cause
	}
	if m.IdempotencyKey != "" {
		if ev, dup, err := first(nil); err != nil || dup {
			return ev, dup, err
		}
	}
	// The plan's item_writes limit, checked after a retry got its first answer
	// (a write already made takes nothing more) and before anything is written.
	ticket, err := s.admitItemWrite(ctx, tenant)
	if err != nil {
		return events.Event{}, false, err
	}
	defer ticket.cancel()
	const attempts = 5
	for i := 0; ; i++ {
		cur, err := s.loadItem(ctx, tenant, itemID)
		if err != nil {
			return events.Event{}, false, err
		}
		exists := cur.Version > 0 && !cur.Deleted
		if err := pre.check(itemID, exists, cur.Version); err != nil {
			return first(err)
		}
		payload, err := build(cur)
		if err != nil {
			return first(err)
		}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tenant, Stream: stream, StreamType: item.StreamType,
			Expected: events.Exactly(cur.Version), IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint,
			CorrelationID: m.CorrelationID, Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(payload)},
		})
		switch {
		case err == nil:
			if !res.Duplicate {
				if ticket != nil {
					ticket.commit(ctx, res.Events[0].RecordedAt)
				} else {
					s.meter(ctx).CountItemWrite(tenant, res.Events[0].RecordedAt)
				}
			}
			return res.Events[0], res.Duplicate, nil
		case errors.Is(err, events.ErrConcurrency) && i+1 < attempts:
			continue // read the new state and check the preconditions on it
		case errors.Is(err, events.ErrConcurrency):
			// The preconditions held every time and the write lost every race:
			// not a 412 (nothing failed), a 409 to retry, unless it lost to an
			// attempt of this very request.
			return first(storeError("write item", err))
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
