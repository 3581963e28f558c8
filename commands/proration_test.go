package commands_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
)

// A tenant that signs up mid-day is billed for that day: new invoices give a
// day to the plan in force at its end (docs/billing.md, "Proration").
func TestTheSignupDayIsBilled(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "midday") // starter, 19.00 a month
	require.NoError(t, f.clk.Set(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)))
	nov, _ := billing.ParsePeriod("2026-11")
	res, err := f.bill.Close(f.ctx, events.TenantID(tid), nov)
	require.NoError(t, err)
	require.True(t, res.Issued)
	base := res.Invoice.Lines[0]
	require.Equal(t, billing.LineBaseFee, base.Kind)
	assert.Equal(t, "28", base.Quantity.String(), "3 through 30 November")
	assert.Equal(t, "17.73", base.Amount.StringFixed(2), "19.00 x 28/30")
	assert.Equal(t, billing.ProrationDayEnd, res.Invoice.Proration)

	rep, err := f.bill.Audit(f.ctx, events.TenantID(tid), nov)
	require.NoError(t, err)
	assert.True(t, rep.Match, "%+v", rep)
}

// An invoice issued before the rule was recorded was rated under day-start and
// stored without a rule; its audit still recomputes it to the cent, under the
// rule it was issued under, not today's.
func TestAnInvoiceIssuedUnderTheOldRuleStillAudits(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "legacyrule")
	require.NoError(t, f.clk.Set(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)))
	nov, _ := billing.ParsePeriod("2026-11")
	f.bill.Service.Store = &asBeforeRules{Store: f.store, t: t, cat: f.cat}
	res, err := f.bill.Close(f.ctx, events.TenantID(tid), nov)
	require.NoError(t, err)
	f.bill.Service.Store = f.store
	require.True(t, res.Issued)

	rep, err := f.bill.Audit(f.ctx, events.TenantID(tid), nov)
	require.NoError(t, err)
	assert.True(t, rep.Match, "%+v", rep)
	require.NotEmpty(t, rep.Lines)
	assert.Equal(t, "27", rep.Lines[0].IssuedQuantity, "day-start: 4 through 30 November")
	assert.Equal(t, "27", rep.Lines[0].RecomputedQuantity)
}

// asBeforeRules stores an invoice.issued as it was stored before proration
// rules were recorded: rated under day-start, with no rule. The tenant has no
// usage, so an empty ledger is the period's. That was also before credits: no
// credit.applied is stored and the invoice names none.
type asBeforeRules struct {
	*memstore.Store
	t   *testing.T
	cat *billing.Catalog
}

func (s *asBeforeRules) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if len(req.Events) == 1 && req.Events[0].Type == billing.TypeCreditApplied {
		return events.AppendResult{}, nil
	}
	if len(req.Events) == 1 && req.Events[0].Type == billing.TypeInvoiceIssued {
		var iss billing.Issued
		require.NoError(s.t, json.Unmarshal(req.Events[0].Data, &iss))
		segs := iss.Invoice.Segments
		l, err := billing.NewLedger(s.cat, iss.Invoice.Period, billing.SegmentCuts(segs)...)
		require.NoError(s.t, err)
		old, err := billing.RateUnder(billing.ProrationDayStart, s.cat, segs, l)
		require.NoError(s.t, err)
		old.InvoiceID, old.Number, old.TenantID, old.IssuedAt, old.Proration = iss.Invoice.InvoiceID, iss.Invoice.Number, iss.Invoice.TenantID, iss.Invoice.IssuedAt, ""
		iss.Invoice, iss.CreditsVersion = old, 0
		data, err := json.Marshal(iss)
		require.NoError(s.t, err)
		req.Events[0].Data = data
	}
	return s.Store.Append(ctx, req)
}
