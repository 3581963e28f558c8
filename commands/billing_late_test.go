package commands_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// lateCatalog prices calls so that hand computation is easy: the first 100 calls
// of a period are free, then 0.10 each.
const lateCatalog = `
currency: USD
meters:
  - id: calls
    aggregation: sum
plans:
  - id: starter
    base_fee: "31.00"
    prices:
      - meter: calls
        model: graduated
        tiers:
          - {up_to: 100, unit_price: "0"}
          - {unit_price: "0.10"}
`

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestLateUsageIsBilledOnceOnTheNextInvoice follows late usage of two closed
// periods across three closes: each late record is billed exactly once, as an
// adjustment naming its period and quantity, issued invoices never change, and
// every invoice audits to a match (including the ledgers read model).
func TestLateUsageIsBilledOnceOnTheNextInvoice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2026-02-27T00:00:00Z")) // a customer before March: March bills all 31 days
	cat, err := catalog.ParseYAML([]byte(lateCatalog))
	require.NoError(t, err)
	f.svc.Plans = commands.Catalog{Catalog: cat}
	f.bill = &commands.Billing{Service: f.svc, Catalog: cat, AuditReadModel: true}
	meters := commands.Catalog{Catalog: cat}
	tidS, m := f.onboard(t, "acme")
	tid := events.TenantID(tidS)
	march, _ := billing.ParsePeriod("2026-03")
	april, _ := billing.ParsePeriod("2026-04")
	may, _ := billing.ParsePeriod("2026-05")

	record := func(now, id, qty, ts string) {
		t.Helper()
		if f.clk.Now().Before(at(now)) { // the test clock runs on from where it is set
			require.NoError(t, f.clk.Set(at(now)))
		}
		_, err := f.svc.RecordUsage(f.ctx, m, tidS, meters, []commands.UsageRecord{{ID: id, Meter: "calls", Quantity: qty, Timestamp: at(ts)}})
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
	adjustments := func(inv billing.Invoice) map[string]string {
		out := map[string]string{}
		for _, l := range inv.Lines {
			if l.Kind == billing.LineAdjustment {
				require.NotNil(t, l.OriginalPeriod)
				out[l.OriginalPeriod.String()+" "+l.Meter+" "+l.Quantity.String()] = l.Amount.StringFixed(2)
			}
		}
		return out
	}

	record("2026-03-12T10:00:00Z", "m1", "150", "2026-03-12T10:00:00Z")
	marchInv := closeAt("2026-04-01T01:00:00Z", march)
	assert.Equal(t, "36.00", marchInv.Subtotal.StringFixed(2), "31.00 base + 50 calls over 100 at 0.10")
	assert.Empty(t, adjustments(marchInv))

	// Late usage of March, recorded after March was closed.
	record("2026-04-05T09:00:00Z", "m2-late", "40", "2026-03-30T12:00:00Z")
	aprilInv := closeAt("2026-05-01T01:00:00Z", april)
	assert.Equal(t, map[string]string{"2026-03 calls 40": "4.00"}, adjustments(aprilInv))
	assert.Equal(t, "35.00", aprilInv.Subtotal.StringFixed(2), "31.00 base, no April calls, +4.00 for March")

	// More late usage of March (within the 35-day window) and of April.
	record("2026-05-02T08:00:00Z", "m3-late", "10", "2026-03-29T00:00:00Z")
	record("2026-05-02T08:00:00Z", "a1-late", "120", "2026-04-29T00:00:00Z")
	mayInv := closeAt("2026-06-01T01:00:00Z", may)
	assert.Equal(t, map[string]string{"2026-03 calls 10": "1.00", "2026-04 calls 120": "2.00"}, adjustments(mayInv),
		"only usage newer than the April invoice's billing of March; April's first 100 calls are free")
	assert.Equal(t, "34.00", mayInv.Subtotal.StringFixed(2))

	issuedMay := loadIssued(t, f, tid, may)
	assert.Equal(t, []billing.LateBilled{{Period: march, FromVersion: 2, ToVersion: 3}, {Period: april, FromVersion: 0, ToVersion: 1}}, issuedMay.Late)
	assert.Equal(t, []billing.LateBilled{{Period: march, FromVersion: 1, ToVersion: 2}}, loadIssued(t, f, tid, april).Late)
	want, err := json.Marshal(marchInv)
	require.NoError(t, err)
	got, err := json.Marshal(loadIssued(t, f, tid, march).Invoice)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "the issued March invoice is never rewritten")

	f.project(t)
	for _, p := range []billing.Period{march, april, may} {
		rep, err := f.bill.Audit(f.ctx, tid, p)
		require.NoError(t, err)
		assert.True(t, rep.Match, "audit of %s: %+v", p, rep)
		assert.NotEmpty(t, rep.Checks)
	}

	// The audit prices from the price book in the store, never from the file it
	// is given (docs/ARCHITECTURE.md, decision 14): handed dearer calls, and
	// even after they are published as a new plan version, it still matches,
	// because the invoices name the version they were rated with.
	dear, err := catalog.ParseYAML([]byte(strings.Replace(lateCatalog, `"0.10"`, `"0.20"`, 1)))
	require.NoError(t, err)
	rep, err := (&commands.Billing{Service: f.svc, Catalog: dear}).Audit(f.ctx, tid, may)
	require.NoError(t, err)
	assert.True(t, rep.Match, "%+v", rep)
	pub, err := f.svc.PublishCatalog(f.ctx, dear)
	require.NoError(t, err)
	require.True(t, pub.Changed)
	rep, err = (&commands.Billing{Service: f.svc}).Audit(f.ctx, tid, may)
	require.NoError(t, err)
	assert.True(t, rep.Match, "%+v", rep)
}

// TestLateUsageOfAPeriodWithNoUsageAtClose checks that an invoice issued before
// any usage (usage version 0) audits against no usage, not against the late usage.
func TestLateUsageOfAPeriodWithNoUsageAtClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t, at("2026-03-01T00:00:00Z"))
	tidS, m := f.onboard(t, "acme")
	tid := events.TenantID(tidS)
	march, _ := billing.ParsePeriod("2026-03")
	require.NoError(t, f.clk.Set(at("2026-04-01T01:00:00Z")))
	res, err := f.bill.Close(f.ctx, tid, march)
	require.NoError(t, err)
	require.True(t, res.Issued)
	_, err = f.svc.RecordUsage(f.ctx, m, tidS, commands.Catalog{Catalog: f.cat}, []commands.UsageRecord{{ID: "late", Meter: "compute_seconds", Quantity: "600", Timestamp: at("2026-03-31T23:00:00Z")}})
	require.NoError(t, err)
	rep, err := f.bill.Audit(f.ctx, tid, march)
	require.NoError(t, err)
	assert.True(t, rep.Match, "%+v", rep)
}

func loadIssued(t *testing.T, f *fixture, tid events.TenantID, p billing.Period) billing.Issued {
	t.Helper()
	evs, err := f.store.Load(f.ctx, tid, events.StreamID(commands.InvoiceStreamID(p)), 1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	iss, err := events.DecodeAs[billing.Issued](schema.Registry, evs[0])
	require.NoError(t, err)
	return iss
}
