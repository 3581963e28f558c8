package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

// usageEvent is one usage.recorded envelope on stream usage-<stream period>.
func usageEvent(tenant, period string, version int64, r metering.Recorded) events.Event {
	data, _ := json.Marshal(r)
	return events.Event{
		ID:       fmt.Sprintf("%s-%s-%d", tenant[:8], period, version),
		TenantID: events.TenantID(tenant), StreamID: events.StreamID("usage-" + period), StreamType: metering.StreamType,
		Version: version, Type: metering.TypeRecorded, SchemaVersion: 1,
		OccurredAt: r.Timestamp, RecordedAt: r.Timestamp.Add(time.Second), Data: data,
	}
}

// usageHistory interleaves two tenants' usage over two months, with equal
// timestamps (latest breaks ties by id), zero-quantity counts, repeated property
// values and one record whose timestamp lies outside its stream's month.
func usageHistory() []events.Event {
	tenants := []string{"0190f5e4-7a6b-7c1d-8e2f-3a4b5c6d7e8f", "0190f5e4-7a6b-7c1d-8e2f-3a4b5c6d7e90"}
	var out []events.Event
	for _, period := range []string{"2026-03", "2026-04"} {
		p, _ := billing.ParsePeriod(period)
		for v := int64(1); v <= 24; v++ {
			for ti, tid := range tenants {
				at := p.Start().Add(time.Duration(v%7) * 36 * time.Hour)
				r := metering.Recorded{ID: fmt.Sprintf("u%d-%d", ti, v), Timestamp: at, Source: "api"}
				switch v % 4 {
				case 0:
					r.Meter, r.Quantity = "calls", "0"
				case 1:
					r.Meter, r.Quantity = "gb", fmt.Sprintf("%d.5", (v*7)%11)
				case 2:
					r.Meter, r.Quantity = "seats", fmt.Sprint(v%5)
				case 3:
					r.Meter, r.Quantity = "users", "1"
					r.Properties = map[string]string{"user": fmt.Sprintf("user/%d", v%3), "region": "eu"}
				}
				if v == 13 {
					r.Timestamp = p.End().Add(time.Hour) // belongs to no fold of this stream
				}
				out = append(out, usageEvent(tid, period, v, r))
			}
		}
	}
	return out
}

func TestLedgersToleratesDelivery(t *testing.T) {
	t.Parallel()
	projectiontest.Run(t, func() projections.Projection { return projections.Ledgers{} }, usageHistory(), projectiontest.Seeds(6))
}

func TestLedgersTotals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tid := "0190f5e4-7a6b-7c1d-8e2f-3a4b5c6d7e8f"
	p, _ := billing.ParsePeriod("2026-03")
	day := func(d int) time.Time { return p.Start().Add(time.Duration(d) * 24 * time.Hour) }
	recs := []metering.Recorded{
		{ID: "a", Meter: "m", Quantity: "2.50", Timestamp: day(3)},
		{ID: "b", Meter: "m", Quantity: "0", Timestamp: day(5)},
		{ID: "c", Meter: "m", Quantity: "7", Timestamp: day(1)},
		{ID: "e", Meter: "m", Quantity: "4", Timestamp: day(5)},  // ties b at day 5; "m/e" > "m/b" wins
		{ID: "f", Meter: "m", Quantity: "9", Timestamp: day(40)}, // next month: not this period's
		{ID: "g", Meter: "u", Quantity: "1", Timestamp: day(2), Properties: map[string]string{"user": "a/b"}},
		{ID: "h", Meter: "u", Quantity: "1", Timestamp: day(2), Properties: map[string]string{"user": "a/b"}},
		{ID: "i", Meter: "u", Quantity: "1", Timestamp: day(2), Properties: map[string]string{"user": "c"}},
	}
	backend := projections.NewMemoryBackend()
	tx, err := backend.Begin(ctx)
	require.NoError(t, err)
	rm := tx.ReadModel(projections.LedgersProjection, 1)
	for i, r := range recs {
		require.NoError(t, projections.Ledgers{}.Apply(ctx, rm, usageEvent(tid, "2026-03", int64(i+1), r)))
	}
	var m projections.LedgerMeter
	raw, err := rm.Get(ctx, events.TenantID(tid), projections.LedgerMetersCollection, projections.LedgerMeterKey(p, "m"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &m))
	tests := []struct {
		agg  billing.Aggregation
		want string
	}{
		{billing.AggCount, "14.5"}, // 2.5 + 1 (a zero counts one) + 7 + 4
		{billing.AggSum, "13.5"},
		{billing.AggMax, "7"},
		{billing.AggLatest, "4"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, m.Quantity(tt.agg).String(), string(tt.agg))
	}
	assert.EqualValues(t, 4, m.Records)

	_, err = rm.Get(ctx, events.TenantID(tid), "heads", "2026-03")
	require.ErrorIs(t, err, projections.ErrNotFound, "no head item: the checkpoint says how far the stream was applied")

	prefix := projections.LedgerValuesPrefix(p, "u", "user")
	vals, err := rm.List(ctx, events.TenantID(tid), projections.LedgerValuesCollection, prefix, 100)
	require.NoError(t, err)
	var distinct []string
	for _, e := range vals {
		if strings.HasPrefix(e.Key, prefix) {
			distinct = append(distinct, strings.TrimPrefix(e.Key, prefix))
		}
	}
	assert.Equal(t, []string{"a%2Fb", "c"}, distinct, "a value with a slash stays one key")
	require.NoError(t, tx.Rollback())
}
