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

// A plan change from starter to pro on 2026-11-15 10:00 UTC, under each
// proration rule (docs/billing.md, "Proration"). Hand computation, day-end (the
// rule of new invoices): day 15 ends on pro, so days 1-14 are starter's and
// days 15-30 pro's.
//
//	starter base fee: 19.00 x 14/30 = 8.8667 -> 8.87
//	starter api_requests: 25,000 - 10,000 included = 15,000 x 0.0002 = 3.00
//	starter compute_seconds: 130 s / 60 rounded up = 3 x 0.01 = 0.03
//	pro base fee: 99.00 x 16/30 = 52.80
//	pro api_requests: 250,000 graduated: 100,000 x 0 + 150,000 x 0.0001 = 15.00
//	pro storage_bytes: the 3e9 level carries in; 2e9 over the 1e9 included x 1e-9 = 2.00
//	pro minimum 150.00 x 16/30 = 80.00 > 69.80, so a top-up of 10.20
//	subtotal 8.87 + 3.00 + 0.03 + 52.80 + 15.00 + 2.00 + 10.20 = 91.90
//
// Day-start (invoices issued before the rule was recorded): day 15 starts on
// starter, so 15 + 15 days: 9.50 + 3.00 + 0.03 + 49.50 + 15.00 + 2.00 + 8.50
// (minimum 75.00 > 66.50) = 87.53. Its golden file is the stored form of such
// an invoice, which records no rule.
func TestRatePlanChangeMidPeriod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule     Proration
		golden   string
		amounts  map[string]string
		subtotal string
	}{
		{ProrationDayEnd, "invoice_plan_change_day_end.json", map[string]string{
			"base_fee/starter/": "8.87", "usage/starter/api_requests": "3.00", "usage/starter/compute_seconds": "0.03",
			"base_fee/pro/": "52.80", "usage/pro/api_requests": "15.00", "usage/pro/storage_bytes": "2.00", "minimum/pro/": "10.20",
		}, "91.90"},
		{ProrationDayStart, "invoice_plan_change.json", map[string]string{
			"base_fee/starter/": "9.50", "usage/starter/api_requests": "3.00", "usage/starter/compute_seconds": "0.03",
			"base_fee/pro/": "49.50", "usage/pro/api_requests": "15.00", "usage/pro/storage_bytes": "2.00", "minimum/pro/": "8.50",
		}, "87.53"},
	}
	for _, tt := range tests {
		t.Run(string(tt.rule), func(t *testing.T) {
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
			inv, err := RateUnder(tt.rule, cat, segs, l)
			require.NoError(t, err)
			assert.Equal(t, tt.amounts, lineAmounts(inv))
			assert.Equal(t, tt.subtotal, inv.Subtotal.StringFixed(2))
			assert.Equal(t, tt.rule, inv.Proration)
			if tt.rule == ProrationDayStart {
				inv.Proration = "" // stored before the rule was recorded
			}
			checkGolden(t, tt.golden, inv)
		})
	}
	t.Run("Rate uses the current rule", func(t *testing.T) {
		assert.Equal(t, ProrationDayEnd, CurrentProration)
	})
}

// TestProrationDays: the days each rule gives a segment, and under either rule
// the days of contiguous segments add up to the days they cover.
func TestProrationDays(t *testing.T) {
	t.Parallel()
	ms := func(day, hour, min, sec, milli int) time.Time {
		return time.Date(2026, 11, day, hour, min, sec, milli*int(time.Millisecond), time.UTC)
	}
	tests := []struct {
		name             string
		from, to         time.Time
		dayEnd, dayStart int
	}{
		{"the whole month", nov.Start(), nov.End(), 30, 30},
		{"signup at 00:00:00.5 on the 15th", ms(15, 0, 0, 0, 500), nov.End(), 16, 15},
		{"signup at 23:59 on the 15th", ms(15, 23, 59, 0, 0), nov.End(), 16, 15},
		{"signup at midnight on the 15th", at(15, 0), nov.End(), 16, 16},
		{"until 00:00:00.3 on the 15th", nov.Start(), ms(15, 0, 0, 0, 300), 14, 15},
		{"until 18:00 on the 15th", nov.Start(), at(15, 18), 14, 15},
		{"until midnight on the 15th", nov.Start(), at(15, 0), 14, 14},
		{"within one day", at(15, 1), at(15, 23), 0, 0},
		{"a day's last instant", ms(15, 23, 59, 59, 999), at(16, 0), 1, 0},
	}
	for _, tt := range tests {
		seg := PlanSegment{From: tt.from, To: tt.to}
		assert.Equal(t, tt.dayEnd, ProrationDayEnd.Days(seg), "day-end: %s", tt.name)
		assert.Equal(t, tt.dayStart, ProrationDayStart.Days(seg), "day-start: %s", tt.name)
	}

	feb, err := ParsePeriod("2027-02")
	require.NoError(t, err)
	cut := func(day, hour int) time.Time { return time.Date(2027, 2, day, hour, 0, 0, 0, time.UTC) }
	splits := map[string][]time.Time{
		"a February":             {},
		"a change at 18:00":      {cut(15, 18)},
		"two changes in one day": {cut(15, 9), cut(15, 18)},
		"changes at midnight":    {cut(2, 0), cut(28, 0)},
	}
	for name, cuts := range splits {
		for _, rule := range []Proration{ProrationDayEnd, ProrationDayStart} {
			bounds := append(append([]time.Time{feb.Start()}, cuts...), feb.End())
			sum := 0
			for i := 1; i < len(bounds); i++ {
				sum += rule.Days(PlanSegment{From: bounds[i-1], To: bounds[i]})
			}
			assert.Equal(t, 28, sum, "%s, %s: every day billed once", name, rule)
		}
	}
	// Signed up mid-month: the segments bill every day the tenant was subscribed
	// to at its end, the signup day included.
	signup := cut(10, 13)
	sum := ProrationDayEnd.Days(PlanSegment{From: signup, To: cut(20, 6)}) + ProrationDayEnd.Days(PlanSegment{From: cut(20, 6), To: feb.End()})
	assert.Equal(t, 19, sum, "10 through 28 February")
}

// The worked example of docs/billing.md, "Proration and plan segments".
func TestProrationWorkedExample(t *testing.T) {
	t.Parallel()
	signup := at(3, 10)
	for _, change := range []time.Time{at(15, 18), at(15, 0).Add(300 * time.Millisecond), at(15, 0)} {
		starter := ProrationDayEnd.Days(PlanSegment{From: signup, To: change})
		pro := ProrationDayEnd.Days(PlanSegment{From: change, To: nov.End()})
		assert.Equal(t, 12, starter, "change at %s", change)
		assert.Equal(t, 16, pro, "change at %s", change)
	}
	assert.Equal(t, "7.60", prorate(d("19.00"), 12, 30, 2).StringFixed(2))
	assert.Equal(t, "52.80", prorate(d("99.00"), 16, 30, 2).StringFixed(2))
}

func TestProrationOf(t *testing.T) {
	t.Parallel()
	for recorded, want := range map[string]Proration{"": ProrationDayStart, "day-start": ProrationDayStart, "day-end": ProrationDayEnd} {
		got, err := ProrationOf(recorded)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%q", recorded)
	}
	_, err := ProrationOf("day-middle")
	assert.Error(t, err)
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

	adj, updated, err := RateLateUsage(CurrentProration, cat, segs, l, []Usage{
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
