package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
)

// beforeInvoiceAppend runs hook once, just before the first append to an
// invoice stream: the moment a close has folded the profile but not yet
// written its invoice.
type beforeInvoiceAppend struct {
	events.Store
	hook func()
}

func (s *beforeInvoiceAppend) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if h := s.hook; h != nil && strings.HasPrefix(string(req.Stream), "invoice-") {
		s.hook = nil
		h()
	}
	return s.Store.Append(ctx, req)
}

// Found by review: MigratePlan's "period already invoiced" guard is a check-then-act
// race with billing close. MigratePlan loads the invoice stream of every
// period from `at` to now, finds none, and appends tenant.plan_changed
// conditioned only on the tenant stream's version; Close folds the profile,
// then appends its invoice with "no stream" on the invoice stream. Neither
// write is conditioned on what the other reads, so a migration into the
// period being closed (e.g. an operator migrating a tenant "as of" last month
// while the scheduler closes last month after the grace window) is accepted
// while the close issues an invoice rated without it. The result is the state
// decision 14 / MigratePlan's doc forbid: a plan change inside an invoiced
// period, so the invoice no longer audits ("plan segments" mismatch) and the
// tenant's history says it was on v2 for part of a period billed entirely at
// v1. Expected: one of the two fails (the migration is refused, or the close
// includes it); here both succeed and the audit fails.
func TestMigratePlanCannotRaceACloseIntoAnEndedPeriod(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewTest(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	mem := memstore.New(memstore.WithClock(clk))
	store := &beforeInvoiceAppend{Store: mem}
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	svc := &commands.Service{Store: store, Clock: clk, Passwords: hasher}
	bill := &commands.Billing{Service: svc}

	_, err = svc.PublishCatalog(ctx, bookDoc(t, "30.00", "10"))
	require.NoError(t, err)
	out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "racer", Email: "admin@racer.test", Password: "Sup3r-secret!", Plan: "p"}, identity.ValidatePassword)
	require.NoError(t, err)
	tid := events.TenantID(out.TenantID)
	_, err = svc.PublishCatalog(ctx, bookDoc(t, "60.00", "10")) // p v2
	require.NoError(t, err)

	oct, _ := billing.ParsePeriod("2026-10")
	require.NoError(t, clk.Set(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))) // October closable
	admin := commands.Meta{Principal: ident.Principal{UserID: "operator", Roles: []string{ident.RolePlatformAdmin}}}
	midOct := time.Date(2026, 10, 16, 0, 0, 0, 0, time.UTC)

	var migErr error
	store.hook = func() { _, migErr = svc.MigratePlan(ctx, admin, string(tid), "p", 2, midOct) }
	res, err := bill.Close(ctx, tid, oct)
	require.NoError(t, err)

	if migErr == nil && res.Issued {
		rep, err := (&commands.Billing{Service: svc}).Audit(ctx, tid, oct)
		require.NoError(t, err)
		assert.True(t, rep.Match, "a migration into October was accepted while October's invoice was issued without it; the invoice no longer audits: %+v", rep)
		assert.Fail(t, "both the migration into October and October's close succeeded", "invoice segments %s", segmentsOf(*res.Invoice))
	}
}
