package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/schema"
)

var operator = commands.Meta{Principal: ident.Principal{UserID: "operator", Roles: []string{ident.RolePlatformAdmin}}}

func creditLines(inv billing.Invoice) map[string]string {
	out := map[string]string{}
	for _, l := range inv.Lines {
		if l.Kind == billing.LineCredit {
			out[l.Grant] = l.Amount.StringFixed(2)
		}
	}
	return out
}

func mustGrant(t *testing.T, f *fixture, tid string, req commands.CreditGrantRequest) billing.CreditGranted {
	t.Helper()
	g, err := f.bill.GrantCredit(f.ctx, operator, tid, req)
	require.NoError(t, err)
	return g
}

// TestCreditsAppliedAcrossInvoicesAndAudited is the worked example of
// docs/billing.md, "Credits", through the close and the audit (the lateCatalog:
// 31.00 a month, 100 calls free then 0.10 each). Computed by hand:
//
//	P1 40.00 promotional, priority 1, expires 2026-04-15 (after March ends, before April does)
//	P2 50.00 purchased,   priority 2, no expiry
//
// March: 150 calls: 31.00 + 50 x 0.10 = 36.00 before credits. P1 first:
// min(40.00, 36.00) = 36.00 -> 0.00 due; P1 keeps 4.00.
//
// April: 300 calls: 31.00 + 200 x 0.10 = 51.00, plus late March usage (40 calls
// dated 30 March, recorded 5 April): +4.00 = 55.00 before credits. P1 has expired
// (15 April is before April's end) with 4.00 unused; P2: min(50.00, 55.00) =
// 50.00 -> 5.00 due. Credits pay late usage of March on April's invoice only
// with what April may use: P1 does not.
func TestCreditsAppliedAcrossInvoicesAndAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2026-02-27T00:00:00Z"))
	cat, err := catalog.ParseYAML([]byte(lateCatalog))
	require.NoError(t, err)
	f.svc.Plans = commands.Catalog{Catalog: cat}
	f.bill = &commands.Billing{Service: f.svc, Catalog: cat, AuditReadModel: true}
	tidS, m := f.onboard(t, "credited")
	tid := events.TenantID(tidS)
	march, _ := billing.ParsePeriod("2026-03")
	april, _ := billing.ParsePeriod("2026-04")
	record := func(now, id, qty, ts string) {
		t.Helper()
		if f.clk.Now().Before(at(now)) {
			require.NoError(t, f.clk.Set(at(now)))
		}
		_, err := f.svc.RecordUsage(f.ctx, m, tidS, commands.Catalog{Catalog: cat}, []commands.UsageRecord{{ID: id, Meter: "calls", Quantity: qty, Timestamp: at(ts)}})
		require.NoError(t, err)
	}
	closeAt := func(now string, p billing.Period) billing.Invoice {
		t.Helper()
		require.NoError(t, f.clk.Set(at(now)))
		res, err := f.bill.Close(f.ctx, tid, p)
		require.NoError(t, err)
		require.True(t, res.Issued, "%+v", res)
		return *res.Invoice
	}

	require.NoError(t, f.clk.Set(at("2026-03-01T09:00:00Z")))
	exp := at("2026-04-15T00:00:00Z")
	p1 := mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "40", Priority: 1, ExpiresAt: &exp, Kind: "promotional", Reason: "launch offer"})
	p2 := mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "50.00", Currency: "USD", Priority: 2, Kind: "purchased", Reason: "prepaid"})
	assert.Equal(t, "40.00", p1.Amount, "written with the currency's minor digits")

	record("2026-03-12T10:00:00Z", "m1", "150", "2026-03-12T10:00:00Z")
	mar := closeAt("2026-04-01T01:00:00Z", march)
	assert.Equal(t, "36.00", mar.TotalBeforeCredits().StringFixed(2))
	assert.Equal(t, map[string]string{p1.GrantID: "-36.00"}, creditLines(mar))
	assert.Equal(t, "0.00", mar.Subtotal.StringFixed(2), "never below zero")

	record("2026-04-05T09:00:00Z", "m2-late", "40", "2026-03-30T12:00:00Z")
	record("2026-04-20T09:00:00Z", "a1", "300", "2026-04-20T09:00:00Z")
	apr := closeAt("2026-05-01T01:00:00Z", april)
	assert.Equal(t, "55.00", apr.TotalBeforeCredits().StringFixed(2), "51.00 for April + 4.00 late for March")
	assert.Equal(t, map[string]string{p2.GrantID: "-50.00"}, creditLines(apr))
	assert.Equal(t, "5.00", apr.Subtotal.StringFixed(2))

	view, err := f.bill.Credits(f.ctx, m, tidS)
	require.NoError(t, err)
	assert.Equal(t, []commands.CreditBalanceDoc{{Currency: "USD", Available: "0.00", Scheduled: "0.00"}}, view.Balances)
	var entries []string
	for _, e := range view.Ledger {
		entries = append(entries, fmt.Sprintf("%s %s %s %s %s", e.At.Format(time.RFC3339), e.Type, e.GrantID, e.Amount, e.Period))
	}
	assert.Equal(t, []string{
		"2026-03-01T09:00:00Z granted " + p1.GrantID + " 40.00 ",
		"2026-03-01T09:00:00Z granted " + p2.GrantID + " 50.00 ",
		"2026-04-01T01:00:00Z applied " + p1.GrantID + " -36.00 2026-03",
		"2026-04-15T00:00:00Z expired " + p1.GrantID + " -4.00 ",
		"2026-05-01T01:00:00Z applied " + p2.GrantID + " -50.00 2026-04",
	}, entries)
	status := map[string]string{}
	for _, g := range view.Grants {
		status[g.GrantID] = g.Status + " " + g.Remaining
	}
	assert.Equal(t, map[string]string{p1.GrantID: "expired 4.00", p2.GrantID: "used 0.00"}, status)

	f.project(t)
	for _, p := range []billing.Period{march, april} {
		rep, err := f.bill.Audit(f.ctx, tid, p)
		require.NoError(t, err)
		assert.True(t, rep.Match, "audit of %s: %+v", p, rep)
	}
	// The invoices read model (what GET .../invoices serves) shows the credit lines.
	list, err := f.bill.Invoices(f.ctx, m, tidS)
	require.NoError(t, err)
	require.Len(t, list.Invoices, 2)
	assert.Contains(t, string(list.Invoices[1]), `"grant_id":"`+p2.GrantID+`"`)
}

// TestCreditGrantsAreForOperatorsOnly: a tenant's own admin cannot grant or
// void credit, nor read another tenant's; a grant in another currency or with
// more digits than the currency has is refused and writes nothing.
func TestCreditGrantsAreForOperatorsOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2026-03-01T00:00:00Z"))
	a, adminA := f.onboard(t, "alpha")
	b, adminB := f.onboard(t, "bravo")
	_, err := f.bill.GrantCredit(f.ctx, adminA, a, commands.CreditGrantRequest{Amount: "10.00", Kind: "promotional", Reason: "self-service"})
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "%v", err)
	_, err = f.bill.VoidCredit(f.ctx, adminA, a, "cr_x", "no")
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "%v", err)
	g := mustGrant(t, f, a, commands.CreditGrantRequest{Amount: "10.00", Kind: "promotional", Reason: "r"})
	_, err = f.bill.Credits(f.ctx, adminB, a)
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "%v", err)
	_, err = f.bill.VoidCredit(f.ctx, operator, b, g.GrantID, "wrong tenant")
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(err), "A's grant is not B's: %v", err)

	past := at("2026-02-01T00:00:00Z")
	for name, req := range map[string]commands.CreditGrantRequest{
		"another currency": {Amount: "10.00", Currency: "EUR", Kind: "promotional", Reason: "r"},
		"too many digits":  {Amount: "10.001", Kind: "promotional", Reason: "r"},
		"zero":             {Amount: "0", Kind: "promotional", Reason: "r"},
		"huge":             {Amount: "1e30", Kind: "promotional", Reason: "r"},
		"not a number":     {Amount: "NaN", Kind: "promotional", Reason: "r"},
		"kind":             {Amount: "1.00", Kind: "gift", Reason: "r"},
		"no reason":        {Amount: "1.00", Kind: "promotional"},
		"priority":         {Amount: "1.00", Kind: "promotional", Reason: "r", Priority: 1001},
		"expired already":  {Amount: "1.00", Kind: "promotional", Reason: "r", ExpiresAt: &past},
	} {
		_, err := f.bill.GrantCredit(f.ctx, operator, a, req)
		var de *domain.Error
		require.ErrorAs(t, err, &de, name)
		assert.Equal(t, domain.CodeInvalid, de.Code, "%s: %v", name, err)
	}
	_, err = f.bill.GrantCredit(f.ctx, operator, "no-such-tenant", commands.CreditGrantRequest{Amount: "1.00", Kind: "promotional", Reason: "r"})
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(err), "%v", err)
	evs, err := f.store.Load(f.ctx, events.TenantID(a), billing.CreditsStreamID, 1)
	require.NoError(t, err)
	assert.Len(t, evs, 1, "only the valid grant was written")
}

// TestCreditVoidAndCarryOver: 100.00 against January's 19.00 leaves 81.00;
// voiding takes exactly that, so February pays in full; voiding again or an
// unknown grant is refused. Both invoices audit.
func TestCreditVoidAndCarryOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2025-12-15T00:00:00Z"))
	tidS, m := f.onboard(t, "voided") // starter, 19.00 a month
	tid := events.TenantID(tidS)
	g := mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "100.00", Kind: "promotional", Reason: "r", EffectiveAt: at("2026-01-01T00:00:00Z")})
	jan, _ := billing.ParsePeriod("2026-01")
	feb, _ := billing.ParsePeriod("2026-02")
	require.NoError(t, f.clk.Set(at("2026-02-01T01:00:00Z")))
	res, err := f.bill.Close(f.ctx, tid, jan)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{g.GrantID: "-19.00"}, creditLines(*res.Invoice))
	assert.Equal(t, "0.00", res.Invoice.Subtotal.StringFixed(2))

	v, err := f.bill.VoidCredit(f.ctx, operator, tidS, g.GrantID, "granted in error")
	require.NoError(t, err)
	assert.Equal(t, "81.00", v.Amount, "100.00 - 19.00")
	_, err = f.bill.VoidCredit(f.ctx, operator, tidS, g.GrantID, "again")
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "%v", err)
	_, err = f.bill.VoidCredit(f.ctx, operator, tidS, "cr_nope", "r")
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(err), "%v", err)

	require.NoError(t, f.clk.Set(at("2026-03-01T01:00:00Z")))
	res, err = f.bill.Close(f.ctx, tid, feb)
	require.NoError(t, err)
	assert.Empty(t, creditLines(*res.Invoice))
	assert.Equal(t, "19.00", res.Invoice.Subtotal.StringFixed(2))
	view, err := f.bill.Credits(f.ctx, m, tidS)
	require.NoError(t, err)
	require.Len(t, view.Grants, 1)
	assert.Equal(t, "voided", view.Grants[0].Status)
	assert.Equal(t, "voided", view.Ledger[len(view.Ledger)-1].Type)
	assert.Equal(t, "-81.00", view.Ledger[len(view.Ledger)-1].Amount)
	for _, p := range []billing.Period{jan, feb} {
		rep, err := f.bill.Audit(f.ctx, tid, p)
		require.NoError(t, err)
		assert.True(t, rep.Match, "%s: %+v", p, rep)
	}
}

// TestConcurrentClosesNeverSpendACreditTwice: 40 goroutines close January,
// February and March of one tenant (19.00 each, 57.00 in all), grant credit and
// read the balance at once. The two grants made before (25.00 and 20.00, usable
// by all three periods) are spent exactly once in total, 45.00, whatever the
// interleaving; the grants racing the closes are effective now, after March,
// so no period may use them. Every invoice audits, and the credits fold agrees
// with the invoices' credit lines.
func TestConcurrentClosesNeverSpendACreditTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2025-12-15T00:00:00Z"))
	tidS, m := f.onboard(t, "racy")
	tid := events.TenantID(tidS)
	early := at("2026-01-01T00:00:00Z")
	mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "25.00", Kind: "promotional", Reason: "a", EffectiveAt: early})
	mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "20.00", Priority: 1, Kind: "purchased", Reason: "b", EffectiveAt: early})
	require.NoError(t, f.clk.Set(at("2026-04-01T02:00:00Z")))
	// Every read of the credits stream is held a little, so that the closes'
	// decisions overlap (without it the fast in-memory store serializes them
	// and a close that did not fence its application would pass too).
	f.svc.Store = &slowCredits{Store: f.store}
	periods := []billing.Period{{Year: 2026, Month: time.January}, {Year: 2026, Month: time.February}, {Year: 2026, Month: time.March}}

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch {
			case i%8 == 7:
				_, err = f.bill.GrantCredit(f.ctx, operator, tidS, commands.CreditGrantRequest{Amount: "1.00", Kind: "promotional", Reason: "racing"})
			case i%8 == 6:
				_, err = f.bill.Credits(f.ctx, m, tidS)
			default:
				_, err = f.bill.Close(f.ctx, tid, periods[i%3])
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	applied, due := decimal.Zero, decimal.Zero
	for _, p := range periods {
		iss := loadIssued(t, f, tid, p)
		assert.Equal(t, "19.00", iss.Invoice.TotalBeforeCredits().StringFixed(2))
		for _, l := range iss.Invoice.Lines {
			if l.Kind == billing.LineCredit {
				applied = applied.Add(l.Amount.Neg())
			}
		}
		assert.False(t, iss.Invoice.Subtotal.IsNegative())
		due = due.Add(iss.Invoice.Subtotal)
		rep, err := f.bill.Audit(f.ctx, tid, p)
		require.NoError(t, err)
		assert.True(t, rep.Match, "%s: %+v", p, rep)
	}
	assert.Equal(t, "45.00", applied.StringFixed(2), "25.00 + 20.00, each spent once")
	assert.Equal(t, "12.00", due.StringFixed(2), "57.00 - 45.00")

	evs, err := f.store.Load(f.ctx, tid, billing.CreditsStreamID, 1)
	require.NoError(t, err)
	perInvoice := map[string]int{}
	folded := decimal.Zero
	for _, ev := range evs {
		if ev.Type != billing.TypeCreditApplied {
			continue
		}
		a, err := events.DecodeAs[billing.CreditApplied](schema.Registry, ev)
		require.NoError(t, err)
		perInvoice[a.InvoiceID]++
		folded = folded.Add(a.AppliedTotal())
	}
	assert.Len(t, perInvoice, 3)
	for id, n := range perInvoice {
		assert.Equal(t, 1, n, "one application for %s", id)
	}
	assert.Equal(t, "45.00", folded.StringFixed(2), "the credits fold agrees with the invoices")
	view, err := f.bill.Credits(f.ctx, m, tidS)
	require.NoError(t, err)
	assert.Equal(t, "5.00", view.Balances[0].Available, "the five racing 1.00 grants are left for April")
}

// slowCredits holds every read of a credits stream for 2 ms.
type slowCredits struct{ *memstore.Store }

func (s *slowCredits) Load(ctx context.Context, tenant events.TenantID, stream events.StreamID, from int64) ([]events.Event, error) {
	evs, err := s.Store.Load(ctx, tenant, stream, from)
	if stream == billing.CreditsStreamID {
		time.Sleep(2 * time.Millisecond)
	}
	return evs, err
}

// crashingStore fails appends of one event type once, after they would have
// been written by nobody: a process that stopped between the close's appends.
type crashingStore struct {
	*memstore.Store
	mu      sync.Mutex
	failOn  string
	tamper  func(*billing.Issued)
	crashed bool
}

func (s *crashingStore) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if len(req.Events) == 1 && req.Events[0].Type == s.failOn {
		s.mu.Lock()
		first := !s.crashed
		s.crashed = true
		s.mu.Unlock()
		if first {
			return events.AppendResult{}, errors.New("process stopped")
		}
	}
	if s.tamper != nil && len(req.Events) == 1 && req.Events[0].Type == billing.TypeInvoiceIssued {
		var iss billing.Issued
		if err := json.Unmarshal(req.Events[0].Data, &iss); err != nil {
			return events.AppendResult{}, err
		}
		s.tamper(&iss)
		data, err := json.Marshal(iss)
		if err != nil {
			return events.AppendResult{}, err
		}
		req.Events[0].Data = data
	}
	return s.Store.Append(ctx, req)
}

// TestACloseStoppedBetweenItsAppendsIssuesTheAppliedInvoice: the credit was
// applied but the invoice not issued; usage and a grant arrive; the next close
// issues exactly the invoice the application carries (the later usage is late
// for the next invoice, the grant waits), and it audits.
func TestACloseStoppedBetweenItsAppendsIssuesTheAppliedInvoice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2025-12-15T00:00:00Z"))
	tidS, m := f.onboard(t, "crashy")
	tid := events.TenantID(tidS)
	g := mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "5.00", Kind: "promotional", Reason: "r", EffectiveAt: at("2026-01-01T00:00:00Z")})
	jan, _ := billing.ParsePeriod("2026-01")
	cs := &crashingStore{Store: f.store, failOn: billing.TypeInvoiceIssued}
	f.svc.Store = cs
	require.NoError(t, f.clk.Set(at("2026-02-01T01:00:00Z")))
	_, err := f.bill.Close(f.ctx, tid, jan)
	require.Error(t, err)

	_, err = f.svc.RecordUsage(f.ctx, m, tidS, commands.Catalog{Catalog: f.cat}, []commands.UsageRecord{{ID: "after", Meter: "compute_seconds", Quantity: "6000", Timestamp: at("2026-01-31T23:00:00Z")}})
	require.NoError(t, err)
	mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "7.00", Kind: "promotional", Reason: "later", EffectiveAt: at("2026-01-01T00:00:00Z")})
	res, err := f.bill.Close(f.ctx, tid, jan)
	require.NoError(t, err)
	require.True(t, res.Issued)
	assert.Equal(t, map[string]string{g.GrantID: "-5.00"}, creditLines(*res.Invoice), "the application's invoice, not a new decision")
	assert.Equal(t, "14.00", res.Invoice.Subtotal.StringFixed(2), "19.00 - 5.00; the later compute is late usage")
	rep, err := f.bill.Audit(f.ctx, tid, jan)
	require.NoError(t, err)
	assert.True(t, rep.Match, "%+v", rep)
}

// TestTheCreditAuditCanFail: an invoice whose credit line was altered on its way
// to the store no longer matches its application or the recomputation.
func TestTheCreditAuditCanFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2025-12-15T00:00:00Z"))
	tidS, _ := f.onboard(t, "tampered")
	tid := events.TenantID(tidS)
	mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "5.00", Kind: "promotional", Reason: "r", EffectiveAt: at("2026-01-01T00:00:00Z")})
	jan, _ := billing.ParsePeriod("2026-01")
	f.svc.Store = &crashingStore{Store: f.store, tamper: func(iss *billing.Issued) {
		for i, l := range iss.Invoice.Lines {
			if l.Kind == billing.LineCredit {
				iss.Invoice.Lines[i].Amount = l.Amount.Sub(decimal.RequireFromString("1.00"))
				iss.Invoice.Subtotal = iss.Invoice.Subtotal.Sub(decimal.RequireFromString("1.00"))
			}
		}
	}}
	require.NoError(t, f.clk.Set(at("2026-02-01T01:00:00Z")))
	res, err := f.bill.Close(f.ctx, tid, jan)
	require.NoError(t, err)
	require.True(t, res.Issued)
	f.svc.Store = f.store
	rep, err := f.bill.Audit(f.ctx, tid, jan)
	require.NoError(t, err)
	assert.False(t, rep.Match)
	failed := map[string]bool{}
	for _, c := range rep.Checks {
		if !c.Match {
			failed[c.Key] = true
		}
	}
	assert.True(t, failed["credit allocations"], "%+v", rep.Checks)
	assert.True(t, failed["credit application carries the issued invoice"], "%+v", rep.Checks)
	assert.NotEqual(t, rep.IssuedSubtotal, rep.RecomputedSubtotal)
}

// streamCounter counts loads and appends per stream.
type streamCounter struct {
	*memstore.Store
	mu      sync.Mutex
	loads   map[events.StreamID]int
	appends map[events.StreamID]int
}

func (s *streamCounter) Load(ctx context.Context, tenant events.TenantID, stream events.StreamID, from int64) ([]events.Event, error) {
	s.mu.Lock()
	s.loads[stream]++
	s.mu.Unlock()
	return s.Store.Load(ctx, tenant, stream, from)
}

func (s *streamCounter) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	s.mu.Lock()
	s.appends[req.Stream]++
	s.mu.Unlock()
	return s.Store.Append(ctx, req)
}

// TestCloseCreditsCost: credits cost a close one read of the credits stream and
// one append to it (the application, even an empty one), whether or not the
// tenant holds credit; the rest of the close is unchanged.
func TestCloseCreditsCost(t *testing.T) {
	t.Parallel()
	for _, withCredit := range []bool{false, true} {
		f := newFixture(t, at("2025-12-15T00:00:00Z"))
		tidS, _ := f.onboard(t, "costly")
		if withCredit {
			mustGrant(t, f, tidS, commands.CreditGrantRequest{Amount: "5.00", Kind: "promotional", Reason: "r", EffectiveAt: at("2026-01-01T00:00:00Z")})
		}
		require.NoError(t, f.clk.Set(at("2026-02-01T01:00:00Z")))
		_, err := f.svc.PriceBook(f.ctx) // warm the book, as a running server has
		require.NoError(t, err)
		cs := &streamCounter{Store: f.store, loads: map[events.StreamID]int{}, appends: map[events.StreamID]int{}}
		f.svc.Store = cs
		jan, _ := billing.ParsePeriod("2026-01")
		res, err := f.bill.Close(f.ctx, events.TenantID(tidS), jan)
		require.NoError(t, err)
		require.True(t, res.Issued)
		assert.Equal(t, 1, cs.loads[billing.CreditsStreamID], "withCredit=%v", withCredit)
		assert.Equal(t, 1, cs.appends[billing.CreditsStreamID], "withCredit=%v", withCredit)
		assert.Equal(t, 1, cs.appends[events.StreamID(commands.InvoiceStreamID(jan))])
		total := 0
		for _, n := range cs.loads {
			total += n
		}
		t.Logf("withCredit=%v: %d loads (%d of credits), %d appends: %v", withCredit, total, cs.loads[billing.CreditsStreamID], len(cs.appends), cs.loads)
	}
}
