package dynamodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
)

// cost is what one command cost on the execution role's client.
type cost struct{ reads, writes, txs, txItems int64 }

func (s *scopedStore) measure(t *testing.T, run func()) cost {
	t.Helper()
	c := s.base
	r, w, x, i := c.reads.Load(), c.writes.Load(), c.txs.Load(), c.txItems.Load()
	run()
	return cost{c.reads.Load() - r, c.writes.Load() - w, c.txs.Load() - x, c.txItems.Load() - i}
}

// TestKeyedUsageReportCosts counts the DynamoDB requests and transaction items
// of a usage report with and without an Idempotency-Key, first and retried
// (docs/ARCHITECTURE.md, decision 13). A transactional write of an item under
// 1 KB costs 2 write capacity units, a strongly consistent read of one under
// 4 KB 1 read unit; the claim and the answer are two small items each.
func TestKeyedUsageReportCosts(t *testing.T) {
	t.Parallel()
	s := newScopedStore(t)
	ctx := context.Background()
	clk := clock.NewTest(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	svc := &commands.Service{Store: s.store, Clock: clk, Plans: commands.Catalog{Catalog: catalog.Default()}}
	meters := commands.Catalog{Catalog: catalog.Default()}
	m := commands.Meta{Principal: identity.Principal{TenantID: "t1", UserID: "u1", Roles: []string{identity.RoleTenantMember}}}
	recs := func(prefix string, n int) []commands.UsageRecord {
		out := make([]commands.UsageRecord, n)
		for i := range out {
			out[i] = commands.UsageRecord{ID: fmt.Sprintf("%s-%d", prefix, i), Meter: "compute_seconds", Quantity: "1", Timestamp: clk.Now()}
		}
		return out
	}
	// A tenant has a profile (the plan its limits come from).
	_, err := s.store.Append(events.WithTenantScope(ctx, "t1"), events.AppendRequest{Tenant: "t1", Stream: tenant.StreamID, StreamType: tenant.StreamType,
		Expected: events.NoStream, Events: []events.NewEvent{{Type: tenant.TypeOnboarded, Data: mustJSON(t, &tenant.Onboarded{TenantID: "t1", Name: "t1", Plan: "free", At: clk.Now()})}}})
	require.NoError(t, err)
	_, err = svc.RecordUsage(ctx, m, "t1", meters, recs("warm", 1)) // registers the tenant
	require.NoError(t, err)

	unkeyed := s.measure(t, func() {
		_, err := svc.RecordUsage(ctx, m, "t1", meters, recs("a", 10))
		require.NoError(t, err)
	})
	keyed := m
	keyed.IdempotencyKey, keyed.Fingerprint = "k1", "fp1"
	first := s.measure(t, func() {
		res, err := svc.RecordUsage(ctx, keyed, "t1", meters, recs("b", 10))
		require.NoError(t, err)
		require.Equal(t, commands.UsageResult{Accepted: 10}, res)
	})
	retry := s.measure(t, func() {
		res, err := svc.RecordUsage(ctx, keyed, "t1", meters, recs("b", 10))
		require.NoError(t, err)
		require.Equal(t, commands.UsageResult{Accepted: 10}, res)
	})
	t.Logf("10 records: unkeyed %+v, keyed %+v, keyed retry %+v", unkeyed, first, retry)

	// Unkeyed: the stream head's read and one transaction of the usage.reported
	// event with its ten claimed ids.
	assert.Equal(t, cost{reads: 1, txs: 1, txItems: 11}, unkeyed)
	// Keyed: the claim and the answer add a transaction each, of the event and
	// the key's record, and two reads each (the key, the stream head): 8 more
	// write units and 4 more read units than unkeyed, whatever the batch size.
	assert.Equal(t, cost{reads: 5, txs: 3, txItems: 15}, first)
	// A retry writes nothing: the claim's key and first result, then the
	// answer's key and first result.
	assert.Equal(t, cost{reads: 4}, retry)
}

// A usage id's claim expires with the table's TTL after the usage window plus
// a day (docs/api.md, Idempotency): it stops costing storage, and once
// expired it no longer counts as claimed, whether or not TTL deleted it yet.
func TestUsageClaimsExpire(t *testing.T) {
	t.Parallel()
	s := newScopedStore(t)
	ctx := context.Background()
	req := events.AppendRequest{Tenant: "t1", Stream: "usage-2026-11", Expected: events.AnyVersion,
		ClaimKeys: []string{"usage:a"}, ClaimTTL: time.Hour, Events: newEvents(1, false)}
	_, err := s.store.Append(ctx, req)
	require.NoError(t, err)
	claimed, err := s.store.ClaimedKeys(ctx, "t1", []string{"usage:a"})
	require.NoError(t, err)
	assert.True(t, claimed["usage:a"])
	_, err = s.store.Append(ctx, req)
	assert.ErrorIs(t, err, events.ErrKeyClaimed, "claimed within its TTL")

	later := dynamodb.New(s.base, "events", dynamodb.WithClock(offsetClock(2*time.Hour)))
	claimed, err = later.ClaimedKeys(ctx, "t1", []string{"usage:a"})
	require.NoError(t, err)
	assert.False(t, claimed["usage:a"], "expired: absent")
	_, err = later.Append(ctx, req)
	assert.NoError(t, err, "an expired claim may be taken again")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
