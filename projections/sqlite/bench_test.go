package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/feed"
	"github.com/tenantstream/tenantstream/events/memstore"
	evsqlite "github.com/tenantstream/tenantstream/events/sqlite"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/sqlite"
)

// lastValue keeps each stream's latest data: one Put per event.
type lastValue struct{}

func (lastValue) Name() string      { return "last_value" }
func (lastValue) Handles() []string { return []string{"bench.happened"} }
func (lastValue) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	return tx.Put(ctx, ev.TenantID, "last", string(ev.StreamID), ev.Data)
}

// BenchmarkLag appends b.N single-event appends paced at 10,000 events/s to the
// SQLite event store while the feed and engine project them into SQLite, and
// reports the lag from append acknowledgement to read-model commit.
// Run with -benchtime=20000x (2 s of load).
func BenchmarkLag(b *testing.B) {
	const rate = 10_000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	store, err := evsqlite.Open(filepath.Join(dir, "events.db"))
	require.NoError(b, err)
	defer store.Close()
	backend, err := sqlite.Open(ctx, filepath.Join(dir, "readmodels.db"))
	require.NoError(b, err)
	defer backend.Close()
	eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend, Projections: []projections.Projection{lastValue{}}})
	require.NoError(b, err)

	var mu sync.Mutex
	acked := map[string]time.Time{}
	committed := map[string]time.Time{}
	handle := func(ctx context.Context, batch []events.Event) error {
		if err := eng.Handle(ctx, batch); err != nil {
			return err
		}
		now := time.Now()
		mu.Lock()
		for _, ev := range batch {
			committed[ev.ID] = now
		}
		mu.Unlock()
		return nil
	}
	tail := feed.New(store, handle, feed.Options{Cursors: backend, PollInterval: 100 * time.Millisecond})
	tailDone := make(chan error, 1)
	go func() { tailDone <- tail.Run(ctx) }()

	n := b.N
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		// Pace against the schedule, not the previous append, so slow acks do not lower the rate.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			res, err := store.Append(ctx, events.AppendRequest{
				Tenant: events.TenantID(fmt.Sprintf("t%d", i%10)), Stream: events.StreamID(fmt.Sprintf("s%d", i%1000)),
				Expected: events.AnyVersion,
				Events:   []events.NewEvent{{Type: "bench.happened", Data: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)}},
			})
			if err != nil {
				b.Error(err)
				return
			}
			now := time.Now()
			mu.Lock()
			acked[res.Events[0].ID] = now
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.Eventually(b, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(committed) >= n
	}, 30*time.Second, time.Millisecond)
	b.StopTimer()
	cancel()
	require.NoError(b, <-tailDone)

	lags := make([]float64, 0, n)
	for id, a := range acked {
		// A commit can beat the ack back to the appender; that is zero lag.
		lags = append(lags, max(0, committed[id].Sub(a).Seconds()*1000))
	}
	slices.Sort(lags)
	b.ReportMetric(lags[len(lags)/2], "p50-lag-ms")
	b.ReportMetric(lags[len(lags)*99/100], "p99-lag-ms")
	b.ReportMetric(lags[len(lags)-1], "max-lag-ms")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEngineThroughput applies batches of 1,000 events (100 streams) to the
// SQLite backend and reports events applied per second.
func BenchmarkEngineThroughput(b *testing.B) {
	ctx := context.Background()
	store := memstore.New()
	backend, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "readmodels.db"))
	require.NoError(b, err)
	defer backend.Close()
	eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend, Projections: []projections.Projection{lastValue{}}})
	require.NoError(b, err)
	const batch = 1000
	versions := map[int]int64{}
	evs := make([]events.Event, 0, batch)
	b.ResetTimer()
	for i := range b.N {
		s := i % 100
		versions[s]++
		evs = append(evs, events.Event{ID: strconv.Itoa(i), TenantID: "t", StreamID: events.StreamID("s" + strconv.Itoa(s)),
			Version: versions[s], Type: "bench.happened", Data: json.RawMessage(`{}`), Position: int64(i + 1), RecordedAt: time.Now()})
		if len(evs) == batch || i == b.N-1 {
			if err := eng.Handle(ctx, evs); err != nil {
				b.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
