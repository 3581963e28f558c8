package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tenantstream/tenantstream/events"
)

type overlayKey struct {
	tenant     events.TenantID
	collection string
	key        string
}

// overlay buffers one Apply's writes over the transaction's read model, so an
// event whose Apply fails halfway leaves nothing behind when it is parked. It needs
// no savepoints, which DynamoDB does not have.
type overlay struct {
	base   Tx
	writes map[overlayKey]*[]byte // nil pointer: deleted
	order  []overlayKey
}

func newOverlay(base Tx) *overlay { return &overlay{base: base, writes: map[overlayKey]*[]byte{}} }

// reset empties the overlay over base, keeping its storage for the next event.
// The values it held are handed off by flush, never reused.
func (o *overlay) reset(base Tx) {
	o.base = base
	clear(o.writes)
	clear(o.order)
	o.order = o.order[:0]
}

func (o *overlay) Get(ctx context.Context, tenant events.TenantID, collection, key string) ([]byte, error) {
	if v, ok := o.writes[overlayKey{tenant, collection, key}]; ok {
		if v == nil {
			return nil, fmt.Errorf("get %s/%s: %w", collection, key, ErrNotFound)
		}
		return slices.Clone(*v), nil
	}
	return o.base.Get(ctx, tenant, collection, key)
}

func (o *overlay) record(k overlayKey, v *[]byte) {
	if _, seen := o.writes[k]; !seen {
		o.order = append(o.order, k)
	}
	o.writes[k] = v
}

func (o *overlay) Put(_ context.Context, tenant events.TenantID, collection, key string, value []byte) error {
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	o.record(overlayKey{tenant, collection, key}, &v)
	return nil
}

func (o *overlay) Delete(_ context.Context, tenant events.TenantID, collection, key string) error {
	o.record(overlayKey{tenant, collection, key}, nil)
	return nil
}

// List merges the base's entries with the buffered writes. It pages through the
// base until the first limit merged keys are certain, because buffered deletes can
// hide base entries.
func (o *overlay) List(ctx context.Context, tenant events.TenantID, collection, after string, limit int) ([]Entry, error) {
	limit = normLimit(limit)
	var mine []overlayKey
	for k := range o.writes {
		if k.tenant == tenant && k.collection == collection && k.key > after {
			mine = append(mine, k)
		}
	}
	if len(mine) == 0 {
		return o.base.List(ctx, tenant, collection, after, limit)
	}
	slices.SortFunc(mine, func(a, b overlayKey) int { return strings.Compare(a.key, b.key) })
	var base []Entry
	cur, exhausted := after, false
	for {
		page, err := o.base.List(ctx, tenant, collection, cur, limit)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if _, shadowed := o.writes[overlayKey{tenant, collection, e.Key}]; !shadowed {
				base = append(base, e)
			}
		}
		if len(page) < limit {
			exhausted = true
			break
		}
		cur = page[len(page)-1].Key
		live := 0
		for _, k := range mine {
			if k.key <= cur && o.writes[k] != nil {
				live++
			}
		}
		if len(base)+live >= limit {
			break
		}
	}
	out := make([]Entry, 0, limit)
	i := 0
	for _, k := range mine {
		if !exhausted && k.key > cur {
			break
		}
		for i < len(base) && base[i].Key < k.key {
			out = append(out, base[i])
			i++
		}
		if v := o.writes[k]; v != nil {
			out = append(out, Entry{Key: k.key, Value: slices.Clone(*v)})
		}
	}
	out = append(out, base[i:]...)
	return out[:min(limit, len(out))], nil
}

// flush writes the buffered changes into the transaction, in the order made, or
// as one PutMany after the deletes when the transaction takes batches (each key
// appears once, so the order between keys does not matter).
func (o *overlay) flush(ctx context.Context) error {
	if bp, ok := o.base.(BatchPutter); ok && len(o.order) > 1 {
		return o.flushMany(ctx, bp)
	}
	under, isOverlay := o.base.(*overlay)
	var errs []error
	for _, k := range o.order {
		var err error
		switch v := o.writes[k]; {
		case v == nil:
			err = o.base.Delete(ctx, k.tenant, k.collection, k.key)
		case isOverlay:
			// The value is this overlay's own copy, and this overlay is reset
			// after the flush: hand it over instead of copying it again.
			under.record(k, v)
		default:
			err = o.base.Put(ctx, k.tenant, k.collection, k.key, *v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("write %s/%s/%s: %w", k.tenant, k.collection, k.key, err))
		}
	}
	return errors.Join(errs...)
}

func (o *overlay) flushMany(ctx context.Context, bp BatchPutter) error {
	var errs []error
	puts := make([]DumpEntry, 0, len(o.order))
	for _, k := range o.order {
		v := o.writes[k]
		if v != nil {
			puts = append(puts, DumpEntry{Tenant: k.tenant, Collection: k.collection, Key: k.key, Value: *v})
			continue
		}
		if err := o.base.Delete(ctx, k.tenant, k.collection, k.key); err != nil {
			errs = append(errs, fmt.Errorf("write %s/%s/%s: %w", k.tenant, k.collection, k.key, err))
		}
	}
	if err := bp.PutMany(ctx, puts); err != nil {
		errs = append(errs, fmt.Errorf("write %d values: %w", len(puts), err))
	}
	return errors.Join(errs...)
}
