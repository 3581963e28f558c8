package dynamodb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/dynamodb"
)

const wideCatalog = `
currency: USD
meters:
  - id: calls
    aggregation: sum
  - id: seats
    aggregation: unique_count
    property: user
plans:
  - id: starter
    base_fee: "31.00"
    prices:
      - meter: calls
        model: graduated
        tiers:
          - {unit_price: "0.10"}
      - meter: seats
        model: graduated
        tiers:
          - {unit_price: "2.00"}
`

// Usage batches with many distinct property values (150 in one event; 1,000
// records over a few events) are projected into ledgers on DynamoDB, where one
// transaction holds 100 actions, and the billing audit, which compares the
// ledgers read model with the fold of the store, matches. The figures logged
// are the ones docs/ARCHITECTURE.md ("Projections") gives.
func TestLedgersWideUsageBatchesAudit(t *testing.T) {
	reset(t)
	ctx := context.Background()
	cc := &countingClient{}
	b, _ := newBackendVia(t, dynamodb.Options{}, cc.wrap)
	clk := clock.NewTest(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	store := memstore.New(memstore.WithClock(clk))
	eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: b, Clock: clk})
	require.NoError(t, err)
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	cat, err := catalog.ParseYAML([]byte(wideCatalog))
	require.NoError(t, err)
	svc := &commands.Service{Store: store, Reader: eng.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher}
	bill := &commands.Billing{Service: svc, Catalog: cat, AuditReadModel: true}

	cursor := ""
	project := func() (evs int) {
		t.Helper()
		page, err := store.ReadAll(ctx, events.Cursor(cursor), events.ReadOptions{Limit: 100000})
		require.NoError(t, err)
		require.NoError(t, eng.Handle(ctx, page.Events))
		cursor = string(page.Next)
		return len(page.Events)
	}
	out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "wide", Email: "admin@wide.test", Password: "Sup3r-secret!", Plan: "starter"}, identity.ValidatePassword)
	require.NoError(t, err)
	m := commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
	project()

	require.NoError(t, clk.Set(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)))
	report := func(name string, n int) {
		t.Helper()
		recs := make([]commands.UsageRecord, n)
		for i := range recs {
			recs[i] = commands.UsageRecord{ID: fmt.Sprintf("%s-%d", name, i), Meter: "seats", Quantity: "1",
				Timestamp: clk.Now().Add(-time.Duration(i) * time.Second), Properties: map[string]string{"user": fmt.Sprintf("%s-user-%d", name, i)}}
			if i%2 == 1 {
				recs[i].Meter, recs[i].Properties = "calls", map[string]string{"user": fmt.Sprintf("%s-user-%d", name, i)}
			}
		}
		_, err := svc.RecordUsage(ctx, m, out.TenantID, commands.Catalog{Catalog: cat}, recs)
		require.NoError(t, err)
		tx0, get0, start := cc.transactions.Load(), cc.gets.Load(), time.Now()
		evs := project()
		t.Logf("%s: %d records, %d distinct values, %d events: %d TransactWriteItems, %d GetItem, %v",
			name, n, n, evs, cc.transactions.Load()-tx0, cc.gets.Load()-get0, time.Since(start))
	}
	report("r150", 150)
	report("r1000", 1000)
	parked, err := eng.Parked(ctx, projections.LedgersProjection)
	require.NoError(t, err)
	assert.Empty(t, parked)

	require.NoError(t, clk.Set(time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)))
	march, _ := billing.ParsePeriod("2026-03")
	res, err := bill.Close(ctx, events.TenantID(out.TenantID), march)
	require.NoError(t, err)
	require.True(t, res.Issued)
	project()
	start := time.Now()
	rep, err := bill.Audit(ctx, events.TenantID(out.TenantID), march)
	require.NoError(t, err)
	t.Logf("audit %v", time.Since(start))
	for _, c := range rep.Checks {
		t.Logf("%s: store %s, read model %s", c.Key, c.Store, c.Found)
	}
	assert.True(t, rep.Match, "%+v", rep)
	var seats string
	for _, c := range rep.Checks {
		if c.Key == "ledger read model 2026-03 seats" {
			seats = c.Found
		}
	}
	assert.Equal(t, "575", seats, "every distinct user of the seats records of both batches")
}
