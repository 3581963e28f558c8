package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantstream/tenantstream/events"
)

var benchData = json.RawMessage(`{"item":"api-calls","quantity":17,"unit":"request","meta":{"region":"eu-west-1","plan":"pro"}}`)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "events.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func newEvents(n int) []events.NewEvent {
	evs := make([]events.NewEvent, n)
	for i := range evs {
		evs[i] = events.NewEvent{Type: "usage.recorded", Data: benchData}
	}
	return evs
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkAppendSequential: one event per append, one appender, so every append
// is its own transaction and fsync.
func BenchmarkAppendSequential(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	evs := newEvents(1)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: "s", Expected: events.Exactly(int64(i)), Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGroupCommit: N concurrent appenders, one event per append, each on its
// own stream with exact expected versions; b.N appends in total.
func BenchmarkGroupCommit(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
			s := benchStore(b)
			ctx := context.Background()
			evs := newEvents(1)
			lat := make([][]time.Duration, n)
			var wg sync.WaitGroup
			per := max(b.N/n, 1)
			b.ResetTimer()
			start := time.Now()
			for g := range n {
				wg.Go(func() {
					stream := events.StreamID(fmt.Sprintf("s%d", g))
					l := make([]time.Duration, 0, per)
					for v := range per {
						t0 := time.Now()
						if _, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: stream, Expected: events.Exactly(int64(v)), Events: evs}); err != nil {
							b.Error(err)
							return
						}
						l = append(l, time.Since(t0))
					}
					lat[g] = l
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			all := slices.Concat(lat...)
			b.ReportMetric(float64(len(all))/el.Seconds(), "events/s")
			b.ReportMetric(float64(percentile(all, 0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(percentile(all, 0.50).Microseconds())/1000, "p50-ms")
		})
	}
}

// BenchmarkAppend100: 100 events per append, sequential.
func BenchmarkAppend100(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	evs := newEvents(100)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: "s", Expected: events.Exactly(int64(i * 100)), Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLoad1000: Load of a 1,000-event stream, with the stream cache (the
// normal case for a recently used aggregate) and without it (a cold read).
func BenchmarkLoad1000(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"cached", nil}, {"uncached", []Option{WithCacheEvents(0)}}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "events.db"), tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			for v := range 10 {
				if _, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: "big", Expected: events.Exactly(int64(v * 100)), Events: newEvents(100)}); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, 1024)
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				evs, err := s.Load(ctx, "t", "big", 1)
				lat = append(lat, time.Since(t0))
				if err != nil || len(evs) != 1000 {
					b.Fatal(err, len(evs))
				}
			}
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
		})
	}
}

const replayEvents = 1_000_000

// replayDB returns a store file holding 1,000,000 events over 10 tenants and
// 10,000 streams. Building it takes a while, so it is kept in the user's cache
// directory (keyed by the codec version) and reused by later runs.
func replayDB(b *testing.B) string {
	b.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "tenantstream-bench")
	path := filepath.Join(dir, fmt.Sprintf("replay-%d-v%d.db", replayEvents, codecV1))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp := path + ".building"
	_ = os.Remove(tmp)
	s, err := Open(tmp, WithCacheEvents(0))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	const streams, perAppend = 10_000, 100
	workers := 50
	for w := range workers {
		wg.Go(func() {
			for st := w; st < streams; st += workers {
				tn := events.TenantID(fmt.Sprintf("tenant-%d", st%10))
				sid := events.StreamID(fmt.Sprintf("stream-%d", st))
				for v := 0; v < replayEvents/streams; v += perAppend {
					evs := newEvents(perAppend)
					for i := range evs {
						if i%2 == 1 {
							evs[i].Type = "usage.adjusted"
						}
					}
					if _, err := s.Append(ctx, events.AppendRequest{Tenant: tn, Stream: sid, Expected: events.Exactly(int64(v)), Events: evs}); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, suf := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(tmp + suf); err == nil {
			if err := os.Rename(tmp+suf, path+suf); err != nil {
				b.Fatal(err)
			}
		}
	}
	return path
}

// BenchmarkReplay: full history replay with decode; reports events/s and the
// heap in use at the end, which must stay far below the history's size.
func BenchmarkReplay(b *testing.B) {
	path := replayDB(b)
	for _, tc := range []struct {
		name  string
		types []string
	}{{"all", nil}, {"one-type", []string{"usage.adjusted"}}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			var peak uint64
			b.ResetTimer()
			total := 0
			for b.Loop() {
				n := 0
				_, err := s.Replay(ctx, events.ReplayOptions{Types: tc.types}, func(e events.Event) error {
					n++
					if n%250_000 == 0 {
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if tc.types == nil && n != replayEvents {
					b.Fatalf("replayed %d events, want %d", n, replayEvents)
				}
				total += n
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
		})
	}
}
