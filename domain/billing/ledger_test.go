package billing

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := ParseCatalog([]byte(`{
  "currency": "USD",
  "meters": [{"id": "compute_seconds", "aggregation": "sum"},
             {"id": "seats", "aggregation": "latest"},
             {"id": "users", "aggregation": "unique_count", "property": "user"}],
  "plans": [
    {"id": "starter", "name": "Starter", "base_fee": "19.00", "prices": [
      {"meter": "api_requests", "model": "per_unit", "unit_price": "0.0002", "included_units": 10000},
      {"meter": "compute_seconds", "model": "per_unit", "unit_price": "0.01", "transform_quantity": {"divide_by": 60, "round": "up"}}]},
    {"id": "pro", "name": "Pro", "base_fee": "99.00", "minimum_charge": "150.00", "prices": [
      {"meter": "api_requests", "model": "graduated", "tiers": [
        {"up_to": 100000, "unit_price": "0"}, {"up_to": 1000000, "unit_price": "0.0001"}, {"unit_price": "0.00005"}]},
      {"meter": "storage_bytes", "model": "per_unit", "unit_price": "0.000000001", "included_units": 1000000000}]}
  ]}`))
	require.NoError(t, err)
	return c
}

var nov = Period{Year: 2026, Month: time.November}

func at(day, hour int) time.Time { return time.Date(2026, time.November, day, hour, 0, 0, 0, time.UTC) }

func mixedUsage(n int) []Usage {
	r := rand.New(rand.NewPCG(1, 2))
	meters := []string{MeterAPIRequests, MeterStorageBytes, "compute_seconds", "seats", "users"}
	out := make([]Usage, 0, n)
	for i := range n {
		m := meters[i%len(meters)]
		out = append(out, Usage{
			ID: fmt.Sprintf("u%07d", i), Meter: m, Quantity: decimal.NewFromInt(int64(r.IntN(1000))),
			// Few distinct instants, so latest must break ties by id.
			OccurredAt: at(1+r.IntN(30), r.IntN(3)),
			Properties: map[string]string{"user": fmt.Sprintf("user%d", r.IntN(50))},
		})
	}
	return out
}

func ledgerJSONOf(t *testing.T, l *Ledger) string {
	b, err := json.Marshal(l)
	require.NoError(t, err)
	return string(b)
}

func TestFoldIsOrderIndependentAndDeduplicates(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	usage := mixedUsage(2000)
	cuts := []time.Time{at(15, 1)}
	want, err := Fold(cat, nov, cuts, usage)
	require.NoError(t, err)
	wantJSON := ledgerJSONOf(t, want)
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 99))
		shuffled := append([]Usage(nil), usage...)
		shuffled = append(shuffled, usage[:r.IntN(len(usage))]...) // duplicates redelivered
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		l, err := NewLedger(cat, nov, cuts...)
		require.NoError(t, err)
		for _, u := range shuffled {
			_, err := l.Add(u)
			require.NoError(t, err)
		}
		require.Equal(t, wantJSON, ledgerJSONOf(t, l), "seed %d", seed)
	}
}

func TestSplittingUsageGivesTheSameLedger(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	one, err := Fold(cat, nov, nil, []Usage{{ID: "a", Meter: "compute_seconds", Quantity: d("100.5"), OccurredAt: at(3, 0)},
		{ID: "b", Meter: MeterAPIRequests, Quantity: d("7"), OccurredAt: at(3, 0)}})
	require.NoError(t, err)
	var parts []Usage
	for i, q := range []string{"10", "0.5", "40", "50"} {
		parts = append(parts, Usage{ID: fmt.Sprintf("s%d", i), Meter: "compute_seconds", Quantity: d(q), OccurredAt: at(3+i, 0)})
	}
	for i, q := range []string{"3", "0", "0", "2"} { // a zero-quantity count record counts 1
		parts = append(parts, Usage{ID: fmt.Sprintf("c%d", i), Meter: MeterAPIRequests, Quantity: d(q), OccurredAt: at(9, i)})
	}
	split, err := Fold(cat, nov, nil, parts)
	require.NoError(t, err)
	for _, m := range []string{"compute_seconds", MeterAPIRequests} {
		assert.True(t, one.Total(m).Equal(split.Total(m)), "%s: %s vs %s", m, one.Total(m), split.Total(m))
	}
}

func TestLedgerAggregations(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	l, err := NewLedger(cat, nov, at(15, 12))
	require.NoError(t, err)
	require.NoError(t, l.SetOpening(MeterStorageBytes, d("5000")))
	add := func(id, meter, q string, when time.Time, props map[string]string) {
		ok, err := l.Add(Usage{ID: id, Meter: meter, Quantity: d(q), OccurredAt: when, Properties: props})
		require.NoError(t, err)
		require.True(t, ok)
	}
	add("s1", MeterStorageBytes, "3000", at(2, 0), nil)
	add("s2", MeterStorageBytes, "9000", at(10, 0), nil)
	add("s3", MeterStorageBytes, "1000", at(12, 0), nil) // level 1000 carries into segment 1
	add("l1", "seats", "4", at(5, 0), nil)
	add("l2", "seats", "7", at(20, 0), nil)
	add("l3", "seats", "6", at(20, 0), nil) // same instant: the greater id (l3) wins
	add("p1", "users", "1", at(1, 0), map[string]string{"user": "ann"})
	add("p2", "users", "1", at(2, 0), map[string]string{"user": "ann"})
	add("p3", "users", "1", at(20, 0), map[string]string{"user": "bob"})
	add("p4", "users", "1", at(21, 0), map[string]string{"user": "ann"})

	assert.Equal(t, "9000", l.Quantity(0, MeterStorageBytes).String(), "peak of segment 0")
	assert.Equal(t, "1000", l.Quantity(1, MeterStorageBytes).String(), "segment 1 holds the carried level")
	assert.Equal(t, "9000", l.Total(MeterStorageBytes).String())
	assert.Equal(t, "6", l.Total("seats").String())
	assert.Equal(t, "4", l.Quantity(0, "seats").String())
	assert.Equal(t, "2", l.Total("users").String())
	assert.Equal(t, "2", l.Quantity(1, "users").String())

	empty, err := NewLedger(cat, nov)
	require.NoError(t, err)
	require.NoError(t, empty.SetOpening(MeterStorageBytes, d("123")))
	assert.Equal(t, "123", empty.Total(MeterStorageBytes).String(), "storage held all month counts without writes")

	dup, err := l.Add(Usage{ID: "s2", Meter: MeterStorageBytes, Quantity: d("99999"), OccurredAt: at(3, 0)})
	require.NoError(t, err)
	assert.False(t, dup)

	var back Ledger
	require.NoError(t, json.Unmarshal([]byte(ledgerJSONOf(t, l)), &back))
	assert.Equal(t, ledgerJSONOf(t, l), ledgerJSONOf(t, &back), "JSON round trip")
	assert.True(t, back.Seen("p4"))
}

func TestLedgerRejects(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t)
	l, err := NewLedger(cat, nov)
	require.NoError(t, err)
	_, err = l.Add(Usage{ID: "x", Meter: "nope", OccurredAt: at(1, 0)})
	require.ErrorIs(t, err, ErrUnknownMeter)
	_, err = l.Add(Usage{ID: "x", Meter: MeterAPIRequests, OccurredAt: nov.End()})
	require.ErrorIs(t, err, ErrOutsidePeriod)
	_, err = l.Add(Usage{ID: "x", Meter: MeterAPIRequests, Quantity: d("-1"), OccurredAt: at(1, 0)})
	require.ErrorIs(t, err, ErrInvalidUsage)
	_, err = NewLedger(cat, nov, nov.Start())
	require.ErrorIs(t, err, ErrInvalidSegments)
	require.ErrorIs(t, l.SetOpening(MeterAPIRequests, d("1")), ErrInvalidUsage)
}

func TestPeriod(t *testing.T) {
	t.Parallel()
	p, err := ParsePeriod("2026-12")
	require.NoError(t, err)
	assert.Equal(t, "2027-01", p.Next().String())
	assert.Equal(t, "2026-11", p.Prev().String())
	assert.Equal(t, 31, p.Days())
	assert.Equal(t, 28, Period{2026, time.February}.Days())
	assert.Equal(t, 29, Period{2028, time.February}.Days())
	assert.Equal(t, "2026-11", PeriodOf(time.Date(2026, 12, 1, 0, 30, 0, 0, time.FixedZone("x", 3600))).String(), "periods are UTC")
	assert.True(t, p.Contains(p.Start()))
	assert.False(t, p.Contains(p.End()))
	for _, bad := range []string{"2026-13", "2026-00", "26-11", "2026/11", "2026-1", "0000-01", "２026-11"} {
		_, err := ParsePeriod(bad)
		require.ErrorIs(t, err, ErrInvalidPeriod, bad)
	}
}

func BenchmarkFold1M(b *testing.B) {
	cat := testCatalog(b)
	usage := mixedUsage(1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Fold(cat, nov, []time.Time{at(15, 1)}, usage); err != nil {
			b.Fatal(err)
		}
	}
}
