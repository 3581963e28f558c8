package shred_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/events/shred"
	"github.com/tenantstream/tenantstream/events/sqlite"
)

// The benchmarks compare the SQLite store alone ("clear") with the same store
// under the sealing layer ("sealed"), on events whose fields the layer seals:
// item puts of about 200 bytes, and usage reports of 400 records with one
// property each (docs/ARCHITECTURE.md, decision 19).

var benchItem = json.RawMessage(`{"item_id":"doc-1","data":{"title":"Quarterly report","owner":"alice@acme.test","tags":["finance","q3"],"body":"Revenue grew in every region; see the attached figures."},"size":160,"prev_size":0,"at":"2026-11-14T09:30:00Z"}`)

func benchUsage() json.RawMessage {
	recs := make([]map[string]any, 400)
	for i := range recs {
		recs[i] = map[string]any{"id": fmt.Sprintf("r-%d", i), "meter": "seats", "quantity": "1", "timestamp": "2026-11-14T09:30:00Z",
			"properties": map[string]string{"user": fmt.Sprintf("user-%d@acme.test", i%50)}, "source": "api"}
	}
	b, _ := json.Marshal(map[string]any{"records": recs})
	return b
}

func benchStores(b *testing.B) map[string]events.Store {
	b.Helper()
	out := map[string]events.Store{}
	for _, mode := range []string{"clear", "sealed"} {
		inner, err := sqlite.Open(filepath.Join(b.TempDir(), "events.db"), sqlite.WithLimits(shred.SealedLimits(events.DefaultLimits)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = inner.Close() })
		out[mode] = inner
		if mode == "sealed" {
			keys, err := shred.OpenFileKeyring(filepath.Join(b.TempDir(), "keys"))
			if err != nil {
				b.Fatal(err)
			}
			s, err := shred.New(inner, keys, schema.Sensitive)
			if err != nil {
				b.Fatal(err)
			}
			out[mode] = s
		}
	}
	return out
}

// BenchmarkAppend: one 100-event append of item puts per op (one transaction,
// one fsync), and one usage report of 400 records.
func BenchmarkAppend(b *testing.B) {
	usage := benchUsage()
	for _, kind := range []struct {
		name string
		typ  string
		data json.RawMessage
		n    int
	}{{"item.put x100", "item.put", benchItem, 100}, {"usage.reported 400 records", "usage.reported", usage, 1}} {
		for _, mode := range []string{"clear", "sealed"} {
			b.Run(kind.name+"/"+mode, func(b *testing.B) {
				s := benchStores(b)[mode]
				evs := make([]events.NewEvent, kind.n)
				for i := range evs {
					evs[i] = events.NewEvent{Type: kind.typ, Data: kind.data}
				}
				ctx := context.Background()
				for i := 0; b.Loop(); i++ {
					if _, err := s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: events.StreamID(fmt.Sprintf("s-%d", i)), Expected: events.NoStream, Events: evs}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*kind.n)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkLoad1000: loading a 1,000-event stream of item puts, from the
// store's stream cache (every event opened each time).
func BenchmarkLoad1000(b *testing.B) {
	for _, mode := range []string{"clear", "sealed"} {
		b.Run(mode, func(b *testing.B) {
			s := benchStores(b)[mode]
			ctx := context.Background()
			fill(b, s, "s", 1000)
			for b.Loop() {
				evs, err := s.Load(ctx, "t1", "s", 1)
				if err != nil || len(evs) != 1000 {
					b.Fatal(err, len(evs))
				}
			}
		})
	}
}

// BenchmarkReplay: replaying 100,000 item puts (a projection rebuild's read).
func BenchmarkReplay(b *testing.B) {
	for _, mode := range []string{"clear", "sealed"} {
		b.Run(mode, func(b *testing.B) {
			s := benchStores(b)[mode]
			ctx := context.Background()
			for i := range 10 {
				fill(b, s, events.StreamID(fmt.Sprintf("s-%d", i)), 10_000)
			}
			r := s.(events.Replayer)
			for b.Loop() {
				n := 0
				if _, err := r.Replay(ctx, events.ReplayOptions{}, func(events.Event) error { n++; return nil }); err != nil || n != 100_000 {
					b.Fatal(err, n)
				}
			}
			b.ReportMetric(float64(b.N*100_000)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func fill(b *testing.B, s events.Store, stream events.StreamID, n int) {
	b.Helper()
	evs := make([]events.NewEvent, 100)
	for i := range evs {
		evs[i] = events.NewEvent{Type: "item.put", Data: benchItem}
	}
	for range n / 100 {
		if _, err := s.Append(context.Background(), events.AppendRequest{Tenant: "t1", Stream: stream, Expected: events.AnyVersion, Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
}
