package commands

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
)

// countingStore counts Loads of the profile stream.
type countingStore struct {
	events.Store
	loads int
}

func (c *countingStore) Load(ctx context.Context, t events.TenantID, s events.StreamID, from int64) ([]events.Event, error) {
	if s == tenant.StreamID {
		c.loads++
	}
	return c.Store.Load(ctx, t, s, from)
}

func lifecycleFixture(t testing.TB) (*Service, *countingStore, events.TenantID) {
	clk := clock.NewTest(time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	store := &countingStore{Store: memstore.New(memstore.WithClock(clk))}
	s := &Service{Store: store, Clock: clk}
	tid := events.TenantID("01a23cfa-ec18-75ed-8e33-326977ae7ef7")
	_, err := store.Append(context.Background(), events.AppendRequest{Tenant: tid, Stream: tenant.StreamID, StreamType: tenant.StreamType, Expected: events.NoStream,
		Events: []events.NewEvent{newEvent(&tenant.Onboarded{TenantID: string(tid), Name: "acme", Plan: "starter", At: clk.Now()})}})
	require.NoError(t, err)
	return s, store, tid
}

// Each write check reads the profile stream once, from the version after
// the cached one, and sees a change another instance appended.
func TestWriteCheckReadsOnlyNewProfileEvents(t *testing.T) {
	s, store, tid := lifecycleFixture(t)
	ctx := context.Background()
	for range 3 {
		require.NoError(t, s.requireWritable(ctx, Meta{}, tid))
		time.Sleep(stateReuse + 5*time.Millisecond)
	}
	require.Equal(t, 3, store.loads, "one Load per check")
	// Within stateReuse the checks of one request share one read.
	require.NoError(t, s.requireWritable(ctx, Meta{}, tid))
	require.NoError(t, s.requireWritable(ctx, Meta{}, tid))
	require.Equal(t, 4, store.loads, "two checks in one request: one Load")
	time.Sleep(stateReuse + 5*time.Millisecond)
	other := &Service{Store: store, Clock: s.Clock} // another instance
	_, err := other.SuspendTenant(ctx, Meta{Principal: operatorPrincipal()}, string(tid), "unpaid")
	require.NoError(t, err)
	require.Error(t, s.requireWritable(ctx, Meta{}, tid), "the next check anywhere sees the suspension")
}

// BenchmarkRequireWritable is the cost a write pays for the check, warm.
func BenchmarkRequireWritable(b *testing.B) {
	s, _, tid := lifecycleFixture(b)
	ctx := context.Background()
	require.NoError(b, s.requireWritable(ctx, Meta{}, tid))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.requireWritable(ctx, Meta{}, tid); err != nil {
			b.Fatal(err)
		}
	}
}

func operatorPrincipal() identity.Principal {
	return identity.Principal{UserID: "operator:test", Roles: []string{identity.RolePlatformAdmin}}
}
