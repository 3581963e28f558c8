package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
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

// loadCounter counts the store reads a command makes.
type loadCounter struct {
	events.Store
	loads atomic.Int64
}

func (c *loadCounter) Load(ctx context.Context, t events.TenantID, s events.StreamID, from int64) ([]events.Event, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, t, s, from)
}

const benchCatalog = `{"currency":"USD","plans":[
 {"id":"open","base_fee":"0"},
 {"id":"limited","base_fee":"0","features":{"item_writes":{"limit":100000000,"on_exceed":"block"}}}]}`

// BenchmarkItemWriteCheck measures what the item_writes limit adds to a PUT:
// the same write on a plan without features and on one with a blocking limit
// (docs/ARCHITECTURE.md, decision 17). It reports the store reads per write.
func BenchmarkItemWriteCheck(b *testing.B) {
	for _, plan := range []string{"open", "limited"} {
		b.Run(plan, func(b *testing.B) {
			cat, err := billing.ParseCatalog([]byte(benchCatalog))
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
			out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "bench", Email: "a@bench.test", Password: "Sup3r-secret!", Plan: plan}, identity.ValidatePassword)
			require.NoError(b, err)
			m := commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
			data := json.RawMessage(`{"n":1}`)
			tctx := events.WithTenantScope(ctx, events.TenantID(out.TenantID))
			_, err = svc.PutItem(tctx, m, commands.PutItem{Tenant: out.TenantID, ItemID: "warm", Data: data})
			require.NoError(b, err)
			store.loads.Store(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := svc.PutItem(tctx, m, commands.PutItem{Tenant: out.TenantID, ItemID: fmt.Sprintf("i%d", i%1000), Data: data}); err != nil {
					b.Fatal(err)
				}
				if i%5000 == 4999 {
					require.NoError(b, svc.Meter.Flush(ctx))
				}
			}
			b.ReportMetric(float64(store.loads.Load())/float64(b.N), "loads/op")
		})
	}
}
