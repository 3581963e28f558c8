package commands_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
)

func TestMeterCountsConcurrentlyAndFlushesPerPeriod(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "acme")
	meter := &commands.Meter{Service: f.svc}
	nov := time.Date(2026, 11, 30, 23, 59, 30, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 0, 0, 5, 0, time.UTC)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 500; i++ {
				at := nov
				if i%5 == 0 {
					at = dec
				}
				meter.CountRequest(f.ctx, tid, at)
			}
		})
	}
	wg.Wait()
	meter.CountRequest(f.ctx, "not a tenant id!", nov) // ignored, never a panic
	require.NoError(t, meter.Flush(f.ctx))
	require.NoError(t, meter.Flush(f.ctx), "a second flush has nothing to write")

	total := func(period string) (int, time.Time, int) {
		evs, err := f.store.Load(f.ctx, events.TenantID(tid), events.StreamID(commands.UsageStreamID(period)), 1)
		require.NoError(t, err)
		n := 0
		var last time.Time
		records := 0
		for _, ev := range evs {
			require.Equal(t, metering.TypeReported, ev.Type, "one usage.reported per (tenant, period) per flush")
			var rep metering.Reported
			require.NoError(t, json.Unmarshal(ev.Data, &rep))
			for _, r := range rep.Records {
				require.Equal(t, metering.MeterAPIRequests, r.Meter)
				var q int
				require.NoError(t, json.Unmarshal([]byte(r.Quantity), &q))
				n += q
				last = r.Timestamp
				records++
			}
		}
		require.Len(t, evs, 1, "one event per (tenant, period) per flush")
		return n, last, records
	}
	n, last, records := total("2026-11")
	assert.Equal(t, 8*400, n)
	assert.Equal(t, nov, last, "the record carries the latest counted instant")
	assert.Equal(t, 1, records, "one record per (tenant, meter, period) per flush")
	n, last, _ = total("2026-12")
	assert.Equal(t, 8*100, n)
	assert.Equal(t, dec, last)
}

// A Meter named after an invocation (the api function, docs/aws.md "Built-in
// meters") writes its counts under ids derived from that name: flushing the
// same invocation's counts again, from another Meter, writes nothing twice.
func TestInvocationMeterFlushesIdempotently(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "acme")
	at := time.Date(2026, 11, 10, 12, 0, 1, 0, time.UTC)
	for range 2 {
		m := &commands.Meter{Service: f.svc, Invocation: "apigw-req-1"}
		ctx := commands.WithMeter(f.ctx, m)
		require.Same(t, m, commands.MeterFrom(ctx))
		commands.ContextMeter{}.CountRequest(ctx, tid, at)
		require.NoError(t, m.Flush(f.ctx))
	}
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), events.StreamID(commands.UsageStreamID("2026-11")), 1)
	require.NoError(t, err)
	require.Len(t, evs, 1, "the second flush of invocation req-1 is a duplicate")
	var rep metering.Reported
	require.NoError(t, json.Unmarshal(evs[0].Data, &rep))
	require.Len(t, rep.Records, 1)
	assert.Equal(t, metering.MeterAPIRequests, rep.Records[0].Meter)
	assert.Equal(t, "1", rep.Records[0].Quantity)

	commands.ContextMeter{}.CountRequest(f.ctx, tid, at) // no Meter on the context: nothing counted, no panic
}
