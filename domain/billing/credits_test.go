package billing

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tsp(s string) *time.Time { t := ts(s); return &t }

func grant(id, amount, currency string, priority int, effective string, expires *time.Time) CreditGranted {
	return CreditGranted{GrantID: id, Amount: amount, Currency: currency, Priority: priority, EffectiveAt: ts(effective),
		ExpiresAt: expires, Kind: CreditPromotional, Reason: "test " + id, Actor: "operator", At: ts(effective)}
}

func period(s string) Period {
	p, err := ParsePeriod(s)
	if err != nil {
		panic(err)
	}
	return p
}

// applyTo applies credits to an invoice of p with total, folds the application
// into l and returns the allocations as grant -> amount, and the amount due.
func applyTo(t *testing.T, l *CreditLedger, p Period, total string, at time.Time) (map[string]string, string) {
	t.Helper()
	allocs, lines := ApplyCredits(l, p, d(total))
	require.Len(t, lines, len(allocs), "one line per grant used")
	got := map[string]string{}
	due := d(total)
	for i, a := range allocs {
		got[a.GrantID] = a.Amount
		assert.Equal(t, LineCredit, lines[i].Kind)
		assert.Equal(t, a.GrantID, lines[i].Grant)
		assert.True(t, lines[i].Amount.Neg().Equal(d(a.Amount)), "a credit line is the negative allocation")
		due = due.Add(lines[i].Amount)
	}
	require.NoError(t, l.Apply(CreditApplied{InvoiceID: "inv-" + p.String(), Period: p, TotalBeforeCredits: total, Allocations: allocs, At: at}))
	minor := l.Minor()
	return got, due.StringFixed(minor)
}

// TestCreditsTwoInvoicesPriorityAndExpiry is the worked example of
// docs/billing.md, "Credits", computed by hand:
//
//	A 30.00 priority 2, no expiry
//	B 40.00 priority 1, expires 2026-11-30T00:00Z (before November ends: October only)
//	C 15.00 priority 1, expires 2027-01-01T00:00Z (at December's end: through December)
//
// October, 25.00 before credits. Priority 1 first; B expires before C, so B:
// min(40.00, 25.00) = 25.00; due 0.00. B keeps 15.00, C 15.00, A 30.00.
//
// November, 47.50. B has expired (2026-11-30 is before November's end, 2026-12-01).
// C: min(15.00, 47.50) = 15.00, due 32.50; then A (priority 2): min(30.00, 32.50) = 30.00,
// due 2.50. Left: A 0, B 15.00 (expired on 2026-11-30: reported), C 0.
func TestCreditsTwoInvoicesPriorityAndExpiry(t *testing.T) {
	t.Parallel()
	l, err := NewCreditLedger("USD")
	require.NoError(t, err)
	require.NoError(t, l.Grant(grant("A", "30.00", "USD", 2, "2026-10-01T00:00:00Z", nil)))
	require.NoError(t, l.Grant(grant("B", "40.00", "USD", 1, "2026-10-01T00:00:00Z", tsp("2026-11-30T00:00:00Z"))))
	require.NoError(t, l.Grant(grant("C", "15.00", "USD", 1, "2026-10-01T00:00:00Z", tsp("2027-01-01T00:00:00Z"))))

	got, due := applyTo(t, l, period("2026-10"), "25.00", ts("2026-11-01T01:00:00Z"))
	assert.Equal(t, map[string]string{"B": "25.00"}, got)
	assert.Equal(t, "0.00", due)

	got, due = applyTo(t, l, period("2026-11"), "47.50", ts("2026-12-01T01:00:00Z"))
	assert.Equal(t, map[string]string{"C": "15.00", "A": "30.00"}, got)
	assert.Equal(t, "2.50", due)

	rep := l.Report(ts("2026-12-02T00:00:00Z"))
	assert.Equal(t, "0.00", rep.Balance.Available.StringFixed(2))
	status := map[string]string{}
	for _, g := range rep.Grants {
		status[g.GrantID] = string(g.Status) + " " + g.Remaining.StringFixed(2)
	}
	assert.Equal(t, map[string]string{"A": "used 0.00", "B": "expired 15.00", "C": "used 0.00"}, status)
	var entries []string
	for _, e := range rep.Ledger {
		entries = append(entries, fmt.Sprintf("%s %s %s %s %s", e.At.Format(time.RFC3339), e.Type, e.GrantID, e.Amount.StringFixed(2), e.InvoiceID))
	}
	assert.Equal(t, []string{
		"2026-10-01T00:00:00Z granted A 30.00 ",
		"2026-10-01T00:00:00Z granted B 40.00 ",
		"2026-10-01T00:00:00Z granted C 15.00 ",
		"2026-11-01T01:00:00Z applied B -25.00 inv-2026-10",
		"2026-11-30T00:00:00Z expired B -15.00 ",
		"2026-12-01T01:00:00Z applied C -15.00 inv-2026-11",
		"2026-12-01T01:00:00Z applied A -30.00 inv-2026-11",
	}, entries)
}

// TestCreditsCarryOverNeverBelowZero: 100.00 against 12.34 leaves 87.66, which
// pays 87.66 of the next invoice's 90.00 (2.34 due); a zero or negative total
// takes nothing.
func TestCreditsCarryOverNeverBelowZero(t *testing.T) {
	t.Parallel()
	l, err := NewCreditLedger("USD")
	require.NoError(t, err)
	require.NoError(t, l.Grant(grant("G", "100.00", "USD", 0, "2026-01-15T00:00:00Z", nil)))

	got, due := applyTo(t, l, period("2026-01"), "12.34", ts("2026-02-01T01:00:00Z"))
	assert.Equal(t, map[string]string{"G": "12.34"}, got, "the whole invoice, not the grant")
	assert.Equal(t, "0.00", due)
	_, left, _ := l.GrantOf("G")
	assert.Equal(t, "87.66", left.StringFixed(2), "100.00 - 12.34")

	for _, total := range []string{"0.00", "-5.00"} {
		allocs, lines := ApplyCredits(l, period("2026-02"), d(total))
		assert.Empty(t, allocs, total)
		assert.Empty(t, lines, total)
	}
	got, due = applyTo(t, l, period("2026-03"), "90.00", ts("2026-04-01T01:00:00Z"))
	assert.Equal(t, map[string]string{"G": "87.66"}, got)
	assert.Equal(t, "2.34", due, "90.00 - 87.66")
	rep := l.Report(ts("2026-04-02T00:00:00Z"))
	assert.True(t, rep.Balance.Available.IsZero())
}

// TestCreditsOrderTiesAndEligibility: same priority and expiry apply in grant
// order; no expiry goes after any expiry; a grant effective at the period's end
// (or later) and one expiring before it are not used; one expiring exactly at
// the end is.
func TestCreditsOrderTiesAndEligibility(t *testing.T) {
	t.Parallel()
	oct := period("2026-10")
	end := oct.End().Format(time.RFC3339)
	l, err := NewCreditLedger("USD")
	require.NoError(t, err)
	require.NoError(t, l.Grant(grant("never", "1.00", "USD", 1, "2026-10-01T00:00:00Z", nil)))
	require.NoError(t, l.Grant(grant("first", "1.00", "USD", 1, "2026-10-01T00:00:00Z", tsp(end))))
	require.NoError(t, l.Grant(grant("second", "1.00", "USD", 1, "2026-10-01T00:00:00Z", tsp(end))))
	require.NoError(t, l.Grant(grant("late", "50.00", "USD", 0, end, nil)))
	require.NoError(t, l.Grant(grant("gone", "50.00", "USD", 0, "2026-10-01T00:00:00Z", tsp("2026-10-31T23:59:59Z"))))
	allocs, _ := ApplyCredits(l, oct, d("2.50"))
	assert.Equal(t, []CreditAllocation{{"first", "1.00"}, {"second", "1.00"}, {"never", "0.50"}}, allocs)
}

// TestCreditsMinorUnits: JPY has no minor digits, BHD three; a grant must be
// written in them, and applications are exact in them.
func TestCreditsMinorUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		currency, amount, bad, total, applied, due string
	}{
		// 1500 - 1000 = 500 yen due.
		{"JPY", "1000", "1000.5", "1500", "1000", "500"},
		// 5.000 - 1.234 = 3.766 dinars due.
		{"BHD", "1.234", "1.2345", "5.000", "1.234", "3.766"},
		// 0.99 of a 2.00 grant: 1.01 left.
		{"USD", "2.00", "2.001", "0.99", "0.99", "0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.currency, func(t *testing.T) {
			t.Parallel()
			l, err := NewCreditLedger(tt.currency)
			require.NoError(t, err)
			require.ErrorIs(t, l.Grant(grant("bad", tt.bad, tt.currency, 0, "2026-01-01T00:00:00Z", nil)), ErrInvalidCredit)
			_, err = ParseCreditAmount(tt.bad, tt.currency)
			require.ErrorIs(t, err, ErrInvalidCredit)
			require.NoError(t, l.Grant(grant("G", tt.amount, tt.currency, 0, "2026-01-01T00:00:00Z", nil)))
			got, due := applyTo(t, l, period("2026-01"), tt.total, ts("2026-02-01T01:00:00Z"))
			assert.Equal(t, map[string]string{"G": tt.applied}, got)
			assert.Equal(t, tt.due, due)
		})
	}
}

// TestCreditGrantValidation refuses another currency and every malformed field.
func TestCreditGrantValidation(t *testing.T) {
	t.Parallel()
	ok := grant("G", "10.00", "USD", 1, "2026-01-01T00:00:00Z", tsp("2027-01-01T00:00:00Z"))
	require.NoError(t, ok.Validate("USD"))
	tests := map[string]func(g *CreditGranted){
		"another currency":   func(g *CreditGranted) { g.Currency = "EUR" },
		"zero":               func(g *CreditGranted) { g.Amount = "0.00" },
		"negative":           func(g *CreditGranted) { g.Amount = "-1.00" },
		"not fixed digits":   func(g *CreditGranted) { g.Amount = "10" },
		"too many digits":    func(g *CreditGranted) { g.Amount = "10.001" },
		"huge":               func(g *CreditGranted) { g.Amount = "10000000000000.00" },
		"not a number":       func(g *CreditGranted) { g.Amount = "ten" },
		"kind":               func(g *CreditGranted) { g.Kind = "free" },
		"priority":           func(g *CreditGranted) { g.Priority = -1 },
		"reason":             func(g *CreditGranted) { g.Reason = " " },
		"long reason":        func(g *CreditGranted) { g.Reason = string(make([]byte, MaxCreditReason+1)) },
		"no id":              func(g *CreditGranted) { g.GrantID = "" },
		"expiry before":      func(g *CreditGranted) { g.ExpiresAt = tsp("2025-12-31T00:00:00Z") },
		"no effective_at":    func(g *CreditGranted) { g.EffectiveAt = time.Time{} },
		"expiry at effectve": func(g *CreditGranted) { g.ExpiresAt = &g.EffectiveAt },
	}
	for name, mutate := range tests {
		g := ok
		mutate(&g)
		assert.ErrorIs(t, g.Validate("USD"), ErrInvalidCredit, name)
	}
	l, err := NewCreditLedger("USD")
	require.NoError(t, err)
	require.NoError(t, l.Grant(ok))
	assert.ErrorIs(t, l.Grant(ok), ErrInvalidCredit, "a grant id once")
}

// TestCreditVoidsAndBadApplications: a void takes the remaining balance (and
// must say exactly that), a voided grant pays nothing, and an application over
// a grant's balance, of an unknown grant or a second one for an invoice is refused.
func TestCreditVoidsAndBadApplications(t *testing.T) {
	t.Parallel()
	jan := period("2026-01")
	l, err := NewCreditLedger("USD")
	require.NoError(t, err)
	require.NoError(t, l.Grant(grant("G", "10.00", "USD", 0, "2026-01-01T00:00:00Z", nil)))
	require.NoError(t, l.Grant(grant("H", "5.00", "USD", 1, "2026-01-01T00:00:00Z", nil)))
	got, _ := applyTo(t, l, jan, "4.00", ts("2026-02-01T01:00:00Z"))
	assert.Equal(t, map[string]string{"G": "4.00"}, got)

	assert.ErrorIs(t, l.Void(CreditVoided{GrantID: "G", Amount: "10.00", At: ts("2026-02-02T00:00:00Z")}), ErrInvalidCredit, "not the remaining 6.00")
	require.NoError(t, l.Void(CreditVoided{GrantID: "G", Amount: "6.00", At: ts("2026-02-02T00:00:00Z")}))
	assert.ErrorIs(t, l.Void(CreditVoided{GrantID: "G", Amount: "0", At: ts("2026-02-02T00:00:00Z")}), ErrInvalidCredit, "twice")
	assert.ErrorIs(t, l.Void(CreditVoided{GrantID: "nope", Amount: "0"}), ErrInvalidCredit)

	allocs, _ := ApplyCredits(l, period("2026-02"), d("100.00"))
	assert.Equal(t, []CreditAllocation{{"H", "5.00"}}, allocs, "G is voided")

	for name, a := range map[string]CreditApplied{
		"over the balance": {InvoiceID: "x", Allocations: []CreditAllocation{{"H", "5.01"}}},
		"unknown grant":    {InvoiceID: "x", Allocations: []CreditAllocation{{"Z", "1.00"}}},
		"not positive":     {InvoiceID: "x", Allocations: []CreditAllocation{{"H", "0.00"}}},
		"invoice twice":    {InvoiceID: "inv-2026-01", Allocations: []CreditAllocation{{"H", "1.00"}}},
	} {
		assert.ErrorIs(t, l.Apply(a), ErrInvalidCredit, name)
	}
	_, left, _ := l.GrantOf("H")
	assert.Equal(t, "5.00", left.StringFixed(2), "a refused application changes nothing")

	rep := l.Report(ts("2026-02-03T00:00:00Z"))
	assert.Equal(t, "5.00", rep.Balance.Available.StringFixed(2))
	assert.Equal(t, decimal.Zero.String(), rep.Balance.Scheduled.String())
}

// TestInvoiceWithCreditLinesGolden pins the stored form of an invoice with
// credit lines: 19.00 base + 6.50 usage = 25.50 before credits; credit A pays
// 20.00 (all of it), credit B 5.50 of its 10.00; 0.00 due.
func TestInvoiceWithCreditLinesGolden(t *testing.T) {
	t.Parallel()
	l, err := NewCreditLedger("USD")
	require.NoError(t, err)
	require.NoError(t, l.Grant(grant("cr_A", "20.00", "USD", 0, "2026-11-01T00:00:00Z", tsp("2026-12-31T00:00:00Z"))))
	require.NoError(t, l.Grant(grant("cr_B", "10.00", "USD", 5, "2026-11-01T00:00:00Z", nil)))
	inv := Invoice{Period: nov, Currency: "USD", Proration: CurrentProration,
		Segments: []PlanSegment{{Plan: "starter", Version: 1, From: nov.Start(), To: nov.End()}},
		Lines: []Line{
			{Kind: LineBaseFee, Plan: "starter", Description: "Starter base fee, 30 of 30 days, arrears", Quantity: d("30"), Billable: d("30"), Amount: d("19.00")},
			{Kind: LineUsage, Plan: "starter", Meter: "compute_seconds", Description: "compute_seconds, per_unit", Quantity: d("39000"), Billable: d("650"), UnitPrice: dp("0.01"), Amount: d("6.50")},
		}}
	inv.Subtotal = sumLines(inv.Lines)
	allocs, lines := ApplyCredits(l, nov, inv.TotalBeforeCredits())
	assert.Equal(t, []CreditAllocation{{"cr_A", "20.00"}, {"cr_B", "5.50"}}, allocs)
	inv.AddLines(lines...)
	assert.Equal(t, "0.00", inv.Subtotal.StringFixed(2))
	assert.Equal(t, "25.50", inv.TotalBeforeCredits().StringFixed(2))
	checkGolden(t, "invoice_credits.json", inv)
}

// FuzzParseCreditAmount: an amount an operator types is either refused with
// ErrInvalidCredit or is positive, bounded, exact in the currency's minor unit,
// and a grant written with it validates.
func FuzzParseCreditAmount(f *testing.F) {
	for _, s := range []string{"10.00", "10", "0.001", "1e3", "-1", "0", "NaN", "1000000000000", "1000000000000.01", " 5.5 ", "9.999", "", "1.2.3", "0x10", "1e-99999999", "1E99999999", "10.", ".5"} {
		for _, c := range []string{"USD", "JPY", "BHD"} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, s, currency string) {
		d, err := ParseCreditAmount(s, currency)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidCredit)
			return
		}
		minor, err := MinorUnits(currency)
		require.NoError(t, err)
		require.True(t, d.IsPositive())
		require.True(t, d.LessThanOrEqual(maxCreditAmount))
		require.True(t, d.Equal(d.Round(minor)))
		g := grant("F", d.StringFixed(minor), currency, 0, "2026-01-01T00:00:00Z", nil)
		require.NoError(t, g.Validate(currency))
	})
}
