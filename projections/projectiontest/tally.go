package projectiontest

import (
	"context"
	"errors"
	"strconv"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// Tally is a projection for tests of delivery: it counts "n.added" events per
// tenant (collection "c", key "n") and how often each event was applied
// (collection "applied", keyed by event id), so a test sees both a missing and a
// doubly applied event.
type Tally struct{}

// Name implements projections.Projection.
func (Tally) Name() string { return "tally" }

// Handles implements projections.Projection.
func (Tally) Handles() []string { return []string{"n.added"} }

// Apply implements projections.Projection.
func (Tally) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	bump := func(coll, key string) error {
		n := 0
		if v, err := tx.Get(ctx, ev.TenantID, coll, key); err == nil {
			n, _ = strconv.Atoi(string(v))
		} else if !errors.Is(err, projections.ErrNotFound) {
			return err
		}
		return tx.Put(ctx, ev.TenantID, coll, key, []byte(strconv.Itoa(n+1)))
	}
	if err := bump("c", "n"); err != nil {
		return err
	}
	return bump("applied", ev.ID)
}
