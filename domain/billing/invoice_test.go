package billing

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func lineAmounts(inv Invoice) map[string]string {
	out := map[string]string{}
	for _, ln := range inv.Lines {
		out[string(ln.Kind)+"/"+ln.Plan+"/"+ln.Meter] = ln.Amount.StringFixed(2)
	}
	return out
}

// A plan change from starter to pro on 2026-11-15 10:00 UTC. Hand computation:
// days 1-15 belong to starter (it covers their 00:00), days 16-30 to pro.
//
//	starter base fee: 19.00 x 15/30 = 9.50
//	starter api_requests: 25,000 - 10,000 included = 15,000 x 0.0002 = 3.00
//	starter compute_seconds: 130 s / 60 rounded up = 3 x 0.01 = 0.03
//	pro base fee: 99.00 x 15/30 = 49.50
//	pro api_requests: 250,000 graduated: 100,000 x 0 + 150,000 x 0.0001 = 15.00
//	pro storage_bytes: the 3e9 level carries in; 2e9 over the 1e9 included x 1e-9 = 2.00
//	pro minimum 150.00 x 15/30 = 75.00 > 66.50, so a top-up of 8.50
//	subtotal 9.50 + 3.00 + 0.03 + 49.50 + 15.00 + 2.00 + 8.50 = 87.53
func TestRatePlanChangeMidPeriod(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	change := at(15, 10)
	segs := []PlanSegment{{Plan: "starter", From: nov.Start(), To: change}, {Plan: "pro", From: change, To: nov.End()}}
	l, err := Fold(cat, nov, SegmentCuts(segs), []Usage{
		{ID: "a1", Meter: MeterAPIRequests, Quantity: d("25000"), OccurredAt: at(3, 0)},
		{ID: "c1", Meter: "compute_seconds", Quantity: d("130"), OccurredAt: at(4, 0)},
		{ID: "s1", Meter: MeterStorageBytes, Quantity: d("3000000000"), OccurredAt: at(5, 0)},
		{ID: "a2", Meter: MeterAPIRequests, Quantity: d("250000"), OccurredAt: at(20, 0)},
	})
	require.NoError(t, err)
	inv, err := Rate(cat, segs, l)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"base_fee/starter/": "9.50", "usage/starter/api_requests": "3.00", "usage/starter/compute_seconds": "0.03",
		"base_fee/pro/": "49.50", "usage/pro/api_requests": "15.00", "usage/pro/storage_bytes": "2.00", "minimum/pro/": "8.50",
	}, lineAmounts(inv))
	assert.Equal(t, "87.53", inv.Subtotal.StringFixed(2))
	checkGolden(t, "invoice_plan_change.json", inv)
}

func TestSegmentDays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to time.Time
		want     int
	}{
		{nov.Start(), nov.End(), 30},
		{at(15, 10), nov.End(), 15}, // onboarded mid-day: day 15 is not covered from 00:00
		{at(15, 0), nov.End(), 16},
		{nov.Start(), at(15, 10), 15},
		{at(15, 1), at(15, 23), 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SegmentDays(PlanSegment{From: tt.from, To: tt.to}), "%s-%s", tt.from, tt.to)
	}
}

func TestRateCurrencyMinorUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		currency, unit, qty, base, want string
	}{
		{"JPY", "0.5", "3", "980", "982"},          // 1.5 rounds half away to 2
		{"JPY", "0.25", "9", "0", "2"},             // 2.25 -> 2
		{"BHD", "0.0005", "3", "1.5", "1.502"},     // 0.0015 -> 0.002
		{"BHD", "0.0001", "4", "0", "0"},           // 0.0004 -> 0.000
		{"USD", "0.005", "1", "0", "0.01"},         // 0.005 -> 0.01
		{"KWD", "0.000125", "10", "2.25", "2.251"}, // 0.00125 -> 0.001
	}
	for _, tt := range tests {
		t.Run(tt.currency+tt.unit, func(t *testing.T) {
			t.Parallel()
			raw := `{"currency":"` + tt.currency + `","meters":[{"id":"m","aggregation":"sum"}],"plans":[{"id":"p","base_fee":"` + tt.base +
				`","prices":[{"meter":"m","model":"per_unit","unit_price":"` + tt.unit + `"}]}]}`
			cat, err := ParseCatalog([]byte(raw))
			require.NoError(t, err)
			q, err := QuotePlan(cat, "p", map[string]decimal.Decimal{"m": d(tt.qty)})
			require.NoError(t, err)
			assert.True(t, q.Subtotal.Equal(d(tt.want)), "got %s want %s", q.Subtotal, tt.want)
		})
	}
}

// Proration half-way cases round half away from zero: JPY 1,000 x 1/30 = 33.33 -> 33,
// 1,000 x 15/30 = 500; USD 10.00 x 1/8 of... use 31-day months: 10.00 x 1/31 = 0.3225.. -> 0.32.
func TestProrationRounding(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "33", prorate(d("1000"), 1, 30, 0).String())
	assert.Equal(t, "500", prorate(d("1000"), 15, 30, 0).String())
	assert.Equal(t, "0.32", prorate(d("10"), 1, 31, 2).String())
	assert.Equal(t, "0.25", prorate(d("7.75"), 1, 31, 2).String())   // exactly 0.25
	assert.Equal(t, "0.013", prorate(d("0.375"), 1, 28, 3).String()) // 0.0133.. BHD
	assert.Equal(t, "0.5", prorate(d("15"), 1, 30, 2).String())
}

func TestLateUsageAdjustment(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	segs := []PlanSegment{{Plan: "starter", From: nov.Start(), To: nov.End()}}
	l, err := Fold(cat, nov, nil, []Usage{{ID: "a1", Meter: MeterAPIRequests, Quantity: d("20000"), OccurredAt: at(3, 0)}})
	require.NoError(t, err)
	issued, err := Rate(cat, segs, l)
	require.NoError(t, err)
	assert.Equal(t, "21.00", issued.Subtotal.StringFixed(2)) // 19.00 + 10,000 x 0.0002

	adj, updated, err := RateLateUsage(cat, segs, l, []Usage{
		{ID: "late1", Meter: MeterAPIRequests, Quantity: d("5000"), OccurredAt: at(29, 23)},
		{ID: "a1", Meter: MeterAPIRequests, Quantity: d("20000"), OccurredAt: at(3, 0)}, // already billed
	})
	require.NoError(t, err)
	require.Len(t, adj, 1)
	assert.Equal(t, LineAdjustment, adj[0].Kind)
	assert.Equal(t, "2026-11", adj[0].OriginalPeriod.String())
	assert.Equal(t, "5000", adj[0].Quantity.String())
	assert.Equal(t, "1.00", adj[0].Amount.StringFixed(2))
	rerated, err := Rate(cat, segs, updated)
	require.NoError(t, err)
	assert.True(t, issued.Subtotal.Add(adj[0].Amount).Equal(rerated.Subtotal), "issued + adjustments = re-rated")

	dec := Period{Year: 2026, Month: time.December}
	next, err := Fold(cat, dec, nil, nil)
	require.NoError(t, err)
	decInv, err := Rate(cat, []PlanSegment{{Plan: "starter", From: dec.Start(), To: dec.End()}}, next)
	require.NoError(t, err)
	decInv.AddLines(adj...)
	decInv.InvoiceID, decInv.Number, decInv.TenantID = "inv-acme-2026-12", 2, "acme"
	decInv.IssuedAt = dec.End().Add(time.Hour)
	assert.Equal(t, "20.00", decInv.Subtotal.StringFixed(2))
	checkGolden(t, "invoice_late_usage.json", decInv)
}

func TestRateRejectsMismatchedSegments(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	l, err := NewLedger(cat, nov)
	require.NoError(t, err)
	_, err = Rate(cat, []PlanSegment{{Plan: "starter", From: nov.Start(), To: at(10, 0)}, {Plan: "pro", From: at(10, 0), To: nov.End()}}, l)
	require.ErrorIs(t, err, ErrInvalidSegments)
	_, err = Rate(cat, []PlanSegment{{Plan: "gold", From: nov.Start(), To: nov.End()}}, l)
	require.ErrorIs(t, err, ErrUnknownPlan)
	_, err = Rate(cat, []PlanSegment{{Plan: "pro", From: nov.Start(), To: nov.End().Add(time.Second)}}, l)
	require.ErrorIs(t, err, ErrInvalidSegments)
}

func checkGolden(t *testing.T, name string, inv Invoice) {
	t.Helper()
	if inv.InvoiceID == "" {
		inv.InvoiceID, inv.Number, inv.TenantID, inv.IssuedAt = "inv-acme-"+inv.Period.String(), 1, "acme", inv.Period.End().Add(time.Hour)
	}
	got, err := json.MarshalIndent(inv, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	require.Equal(t, string(want), string(got), "serialized invoice changed; stored invoices never change")

	var back Invoice
	require.NoError(t, json.Unmarshal(got, &back))
	again, err := json.MarshalIndent(back, "", "  ")
	require.NoError(t, err)
	require.Equal(t, string(got), string(append(again, '\n')), "decode/encode round trip")
}

func BenchmarkRate(b *testing.B) {
	cat := testCatalog(b)
	change := at(15, 10)
	segs := []PlanSegment{{Plan: "starter", From: nov.Start(), To: change}, {Plan: "pro", From: change, To: nov.End()}}
	l, err := Fold(cat, nov, SegmentCuts(segs), mixedUsage(10_000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Rate(cat, segs, l); err != nil {
			b.Fatal(err)
		}
	}
}
