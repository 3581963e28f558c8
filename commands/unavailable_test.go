package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/events"
)

// fullStore fails appends as a store out of space does, while full is set.
type fullStore struct {
	events.Store
	full atomic.Bool
}

func (s *fullStore) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if s.full.Load() {
		return events.AppendResult{}, fmt.Errorf("append %s: commit: %w", req.Stream, events.ErrStorageFull)
	}
	return s.Store.Append(ctx, req)
}

// TestStoreOutOfSpaceIsUnavailableWithRetryAfter: every write command answers a
// store out of space with the unavailable code (503) and a Retry-After, not an
// internal error, and works again once the store has room.
func TestStoreOutOfSpaceIsUnavailableWithRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	tid, m := f.onboard(t, "acme")
	_, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: "doc", Data: json.RawMessage(`{"v":1}`)})
	require.NoError(t, err)
	store := &fullStore{Store: f.store}
	f.svc.Store = store
	store.full.Store(true)

	writes := map[string]func() error{
		"put item": func() error {
			_, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: "doc", Data: json.RawMessage(`{"v":2}`)})
			return err
		},
		"delete item": func() error { return f.svc.DeleteItem(f.ctx, m, tid, "doc", commands.Precondition{}) },
		"change plan": func() error { _, err := f.svc.ChangePlan(f.ctx, m, tid, "pro"); return err },
		"add user": func() error {
			_, err := f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: "bob@acme.test", Password: "Sup3r-secret!"}, identity.ValidatePassword)
			return err
		},
		"record usage": func() error {
			_, err := f.svc.RecordUsage(f.ctx, m, tid, commands.Catalog{Catalog: f.cat}, []commands.UsageRecord{{ID: "u1", Meter: "compute_seconds", Quantity: "1", Timestamp: now}})
			return err
		},
		"onboard": func() error {
			_, err := f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: "globex", Email: "admin@globex.test", Password: "Sup3r-secret!"}, identity.ValidatePassword)
			return err
		},
	}
	for name, write := range writes {
		err := write()
		require.Error(t, err, name)
		assert.Equal(t, domain.CodeUnavailable, domain.ErrorCode(err), "%s: %v", name, err)
		var ra interface{ RetryAfter() time.Duration }
		if assert.ErrorAs(t, err, &ra, name) {
			assert.Equal(t, commands.StoreRetryAfter, ra.RetryAfter(), name)
		}
		assert.ErrorIs(t, err, events.ErrStorageFull, "%s: the cause is kept for the log", name)
	}

	store.full.Store(false)
	it, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: "doc", Data: json.RawMessage(`{"v":2}`)})
	require.NoError(t, err)
	assert.Equal(t, int64(2), it.Version, "the failed writes left nothing behind")
}
