package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
)

// BenchmarkAlertsCost measures what alerts and a spend cap add to a usage
// report of one record and to an item PUT (docs/ARCHITECTURE.md, decision
// 18): none configured, thresholds (checked after the report), a spend cap
// (checked before it). It reports the store reads per operation.
func BenchmarkAlertsCost(b *testing.B) {
	for _, tc := range []struct {
		name, op string
		cfg      *commands.AlertsRequest
	}{
		{"report/none", "report", nil},
		{"report/thresholds", "report", &commands.AlertsRequest{Thresholds: []billing.Threshold{{Meter: "calls", Quantity: "1000000000"}, {Subtotal: "1000000"}}}},
		{"report/cap", "report", &commands.AlertsRequest{Thresholds: []billing.Threshold{}, SpendCap: str("1000000")}},
		{"write/none", "write", nil},
		{"write/cap", "write", &commands.AlertsRequest{Thresholds: []billing.Threshold{}, SpendCap: str("1000000")}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cat, err := billing.ParseCatalog([]byte(alertCatalog))
			require.NoError(b, err)
			clk := clock.NewTest(time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
			store := &loadCounter{Store: memstore.New(memstore.WithClock(clk))}
			hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
			require.NoError(b, err)
			engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Clock: clk})
			require.NoError(b, err)
			svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher}
			svc.Meter = &commands.Meter{Service: svc}
			ctx := context.Background()
			out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "bench", Email: "a@bench.test", Password: "Sup3r-secret!", Plan: "roomy"}, identity.ValidatePassword)
			require.NoError(b, err)
			m := commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
			tctx := events.WithTenantScope(ctx, events.TenantID(out.TenantID))
			if tc.cfg != nil {
				_, err = svc.ConfigureAlerts(tctx, m, out.TenantID, *tc.cfg)
				require.NoError(b, err)
			}
			meters := commands.Catalog{Catalog: cat}
			data := json.RawMessage(`{"n":1}`)
			op := func(i int) error {
				if tc.op == "write" {
					_, err := svc.PutItem(tctx, m, commands.PutItem{Tenant: out.TenantID, ItemID: fmt.Sprintf("i%d", i%1000), Data: data})
					return err
				}
				_, err := svc.RecordUsage(tctx, m, out.TenantID, meters, []commands.UsageRecord{{ID: fmt.Sprintf("r%d", i), Meter: "calls", Quantity: "1", Timestamp: clk.Now()}})
				return err
			}
			require.NoError(b, op(-1))
			store.loads.Store(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := op(i); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(store.loads.Load())/float64(b.N), "loads/op")
		})
	}
}
