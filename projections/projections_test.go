package projections_test

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
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

// platformHistory runs real commands against an in-memory store and returns the
// events they wrote: onboardings, item puts and deletes across tenants, a plan
// change, usage and issued invoices.
func platformHistory(t *testing.T) []events.Event {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewTest(time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC))
	store := memstore.New(memstore.WithClock(clk))
	backend := projections.NewMemoryBackend()
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend, Clock: clk})
	require.NoError(t, err)
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	cat := catalog.Default()
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher}
	bill := &commands.Billing{Service: svc, Catalog: cat}

	var tenants []string
	admins := map[string]string{}
	for i, name := range []string{"acme", "globex", "initech"} {
		out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: name, Email: fmt.Sprintf("admin%d@example.com", i), Password: "Sup3r-secret!", Plan: "starter"}, identity.ValidatePassword)
		require.NoError(t, err)
		tenants = append(tenants, out.TenantID)
		admins[out.TenantID] = out.AdminUserID
	}
	auth := &commands.Auth{Service: svc, Issuer: plainIssuer{}}
	for round := 0; round < 4; round++ {
		for i, tid := range tenants {
			// Logins start sessions (the last_logins projection), out of step across tenants.
			_, err := auth.Login(ctx, commands.Login{TenantName: []string{"acme", "globex", "initech"}[i], Email: fmt.Sprintf("admin%d@example.com", i), Password: "Sup3r-secret!"})
			require.NoError(t, err)
			m := commands.Meta{Principal: ident.Principal{TenantID: tid, UserID: admins[tid], Roles: []string{ident.RoleTenantAdmin}}}
			for j := 0; j < 3; j++ {
				_, err := svc.PutItem(ctx, m, commands.PutItem{Tenant: tid, ItemID: fmt.Sprintf("doc-%d", j), Data: json.RawMessage(fmt.Sprintf(`{"round":%d,"pad":"%0*d"}`, round, round*10+j, 0))})
				require.NoError(t, err)
			}
			if round == 2 {
				require.NoError(t, svc.DeleteItem(ctx, m, tid, "doc-1", commands.Precondition{}))
				_, err := svc.ChangePlan(ctx, m, tid, "pro")
				require.NoError(t, err)
			}
		}
		require.NoError(t, clk.Set(clk.Now().Add(24*time.Hour)))
	}
	require.NoError(t, clk.Set(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)))
	p, _ := billing.ParsePeriod("2026-10")
	for _, tid := range tenants {
		res, err := bill.Close(ctx, events.TenantID(tid), p)
		require.NoError(t, err)
		require.True(t, res.Issued)
	}
	var all []events.Event
	cursor := events.Cursor("")
	for {
		page, err := store.ReadAll(ctx, cursor, events.ReadOptions{Limit: 500})
		require.NoError(t, err)
		all = append(all, page.Events...)
		cursor = page.Next
		if !page.More {
			break
		}
	}
	return all
}

// plainIssuer issues unsigned stand-ins for tokens.
type plainIssuer struct{}

func (plainIssuer) Issue(p ident.Principal) (commands.Tokens, error) {
	return commands.Tokens{AccessToken: "access-" + p.UserID, TokenType: "Bearer"}, nil
}

// TestRegisteredProjectionsTolerateDelivery runs every registered projection
// through the harness: shuffled, duplicated and out-of-order delivery must give the
// read model that in-order delivery gives (docs/ARCHITECTURE.md, decision 4).
func TestRegisteredProjectionsTolerateDelivery(t *testing.T) {
	history := platformHistory(t)
	require.Greater(t, len(history), 50)
	regs := projections.Registered()
	require.NotEmpty(t, regs)
	for _, p := range regs {
		t.Run(p.Name(), func(t *testing.T) {
			projectiontest.Run(t, func() projections.Projection { return p }, history, projectiontest.Seeds(8))
		})
	}
}

// TestItemsKeepsStatsAndItems checks the items projection's values byte for byte
// against encoding/json: it writes them by hand on the hot path.
func TestItemsKeepsStatsAndItems(t *testing.T) {
	ctx := context.Background()
	history := platformHistory(t)
	eng, err := projections.NewEngine(projections.EngineOptions{Store: memstore.New(), Backend: projections.NewMemoryBackend(),
		Projections: []projections.Projection{projections.Items{}}})
	require.NoError(t, err)
	require.NoError(t, eng.Handle(ctx, history))
	// Replay the items by hand: the last put or delete of each item wins.
	type state struct {
		it      item.Item
		deleted bool
	}
	want := map[events.TenantID]map[string]*state{}
	for _, ev := range history {
		p, err := schema.Registry.Decode(ev)
		require.NoError(t, err)
		switch e := p.(type) {
		case *item.Put:
			if want[ev.TenantID] == nil {
				want[ev.TenantID] = map[string]*state{}
			}
			it := item.Item{}
			it.Apply(ev.Version, e)
			want[ev.TenantID][e.ItemID] = &state{it: it}
		case *item.Deleted:
			want[ev.TenantID][e.ItemID].deleted = true
		}
	}
	require.Len(t, want, 3)
	for tenant, items := range want {
		var st projections.ItemStats
		for id, s := range items {
			raw, err := eng.Reader().Get(ctx, "items", tenant, "items", id)
			if s.deleted {
				require.ErrorIs(t, err, projections.ErrNotFound)
				continue
			}
			require.NoError(t, err)
			b, err := json.Marshal(s.it)
			require.NoError(t, err)
			assert.Equal(t, string(b), string(raw))
			st.Items++
			st.Bytes += s.it.Size()
		}
		raw, err := eng.Reader().Get(ctx, "items", tenant, projections.ItemStatsCollection, projections.StorageKey)
		require.NoError(t, err)
		b, err := json.Marshal(st)
		require.NoError(t, err)
		assert.Equal(t, string(b), string(raw), tenant)
	}
}
