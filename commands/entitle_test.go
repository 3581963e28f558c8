package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
)

// TestOperatorOverridesApplyAtOnce: an operator's override of a tenant's
// item_writes limit takes effect on the next write of the process that made
// it, lowering as well as raising (the one-second copy of the plan is dropped),
// and only an operator may make one.
func TestOperatorOverridesApplyAtOnce(t *testing.T) {
	cat, err := billing.ParseCatalog([]byte(`{"currency":"USD","plans":[
 {"id":"limited","base_fee":"0","features":{"item_writes":{"limit":2,"on_exceed":"block"}}},
 {"id":"big","base_fee":"0","features":{"item_writes":{"limit":100,"on_exceed":"block"}}}]}`))
	require.NoError(t, err)
	clk := clock.NewTest(time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	store := memstore.New(memstore.WithClock(clk))
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Clock: clk})
	require.NoError(t, err)
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher}
	svc.Meter = &commands.Meter{Service: svc}
	ctx := context.Background()
	out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "a@acme.test", Password: "Sup3r-secret!", Plan: "limited"}, identity.ValidatePassword)
	require.NoError(t, err)
	admin := commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
	operator := commands.Meta{Principal: ident.Principal{UserID: "operator:test", Roles: []string{ident.RolePlatformAdmin}}}
	tctx := events.WithTenantScope(ctx, events.TenantID(out.TenantID))
	n := 0
	write := func() error {
		n++
		_, err := svc.PutItem(tctx, admin, commands.PutItem{Tenant: out.TenantID, ItemID: fmt.Sprintf("i%d", n), Data: json.RawMessage(`{}`)})
		return err
	}
	limited := func(err error) bool {
		var le *commands.LimitError
		return errors.As(err, &le)
	}
	entitle := func(m commands.Meta, action billing.OverrideAction, limit *decimal.Decimal) error {
		_, err := svc.Entitle(ctx, m, out.TenantID, "item_writes", action, limit, "support ticket 42")
		return err
	}
	three := decimal.NewFromInt(3)

	require.NoError(t, write())
	require.NoError(t, write())
	require.True(t, limited(write()), "the plan's limit of 2")

	err = entitle(admin, billing.OverrideLimit, &three)
	require.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "a tenant admin cannot raise its own limit: %v", err)
	require.True(t, limited(write()), "the refused override changed nothing")

	require.NoError(t, entitle(operator, billing.OverrideLimit, &three))
	require.NoError(t, write(), "raised to 3: the third write passes at once")
	require.True(t, limited(write()))

	require.NoError(t, entitle(operator, billing.OverrideAllow, nil))
	require.NoError(t, write(), "allowed: no limit")
	require.NoError(t, write())

	// Lowering must not wait for the one-second copy to expire.
	require.NoError(t, entitle(operator, billing.OverrideDeny, nil))
	assert.True(t, limited(write()), "denied at once")
	require.NoError(t, entitle(operator, billing.OverrideClear, nil))
	assert.True(t, limited(write()), "cleared: the plan's 2 again, with 5 used")

	// A plan change in this process applies on the next write, both ways.
	_, err = svc.ChangePlan(tctx, admin, out.TenantID, "big")
	require.NoError(t, err)
	require.NoError(t, write(), "upgraded to 100")
	_, err = svc.ChangePlan(tctx, admin, out.TenantID, "limited")
	require.NoError(t, err)
	assert.True(t, limited(write()), "downgraded to 2 with 6 used: refused at once")

	for _, tc := range []struct {
		name    string
		tenant  string
		feature string
		action  billing.OverrideAction
		limit   *decimal.Decimal
		reason  string
	}{
		{"no reason", out.TenantID, "item_writes", billing.OverrideAllow, nil, " "},
		{"bad feature", out.TenantID, "Item Writes!", billing.OverrideAllow, nil, "r"},
		{"limit without a number", out.TenantID, "item_writes", billing.OverrideLimit, nil, "r"},
		{"allow with a number", out.TenantID, "item_writes", billing.OverrideAllow, &three, "r"},
		{"unknown action", out.TenantID, "item_writes", "grant", nil, "r"},
		{"bad tenant id", "../x", "item_writes", billing.OverrideAllow, nil, "r"},
		{"unknown tenant", "nosuchtenant", "item_writes", billing.OverrideAllow, nil, "r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Entitle(ctx, operator, tc.tenant, tc.feature, tc.action, tc.limit, tc.reason)
			require.Error(t, err)
			var de *domain.Error
			assert.True(t, errors.As(err, &de), "a domain error (a 4xx), not %T: %v", err, err)
		})
	}
	assert.True(t, limited(write()), "refused overrides changed nothing")
}
