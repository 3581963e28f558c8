package projectiontest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

// itemCounts is a correct projection: per tenant a count of items added, and per
// item its latest name, which depends only on that item's stream order.
type itemCounts struct{}

func (itemCounts) Name() string      { return "item_counts" }
func (itemCounts) Handles() []string { return []string{"item.added", "item.renamed"} }
func (itemCounts) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	var d struct{ Name string }
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return fmt.Errorf("decode %s: %w", ev.Type, err)
	}
	if ev.Type == "item.added" {
		n := 0
		v, err := tx.Get(ctx, ev.TenantID, "stats", "items")
		switch {
		case err == nil:
			n, _ = strconv.Atoi(string(v))
		case !errors.Is(err, projections.ErrNotFound):
			return err
		}
		if err := tx.Put(ctx, ev.TenantID, "stats", "items", []byte(strconv.Itoa(n+1))); err != nil {
			return err
		}
	}
	return tx.Put(ctx, ev.TenantID, "items", string(ev.StreamID), []byte(d.Name))
}

// lastSeen is deliberately wrong: it records the last event seen per tenant across
// streams, which depends on the interleaving of streams (docs/ARCHITECTURE.md, decision 4).
type lastSeen struct{}

func (lastSeen) Name() string      { return "last_seen" }
func (lastSeen) Handles() []string { return []string{"item.added", "item.renamed"} }
func (lastSeen) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	return tx.Put(ctx, ev.TenantID, "last", "event", []byte(string(ev.StreamID)))
}

// history builds tenants x items streams with an add then renames, interleaved
// round-robin, plus events of a type neither projection handles.
func history(tenants, items, renames int) []events.Event {
	var out []events.Event
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v := 1; v <= renames+2; v++ {
		for ti := range tenants {
			for ii := range items {
				typ := "item.renamed"
				switch v {
				case 1:
					typ = "item.added"
				case 2:
					typ = "item.viewed"
				}
				out = append(out, events.Event{
					ID:       fmt.Sprintf("ev-%d-%d-%d", ti, ii, v),
					TenantID: events.TenantID(fmt.Sprintf("t%d", ti)), StreamID: events.StreamID(fmt.Sprintf("item-%d", ii)),
					StreamType: "item", Version: int64(v), Type: typ, SchemaVersion: 1,
					OccurredAt: base, RecordedAt: base.Add(time.Duration(len(out)) * time.Millisecond),
					Data: json.RawMessage(fmt.Sprintf(`{"Name":"n%d"}`, v)),
				})
			}
		}
	}
	return out
}

// fakeTB records failures so the harness itself can be tested failing.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Logf(string, ...any) {}

func TestHarness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		proj    func() projections.Projection
		wantErr string
	}{
		{"order-independent projection passes", func() projections.Projection { return itemCounts{} }, ""},
		{"cross-stream order dependence is caught", func() projections.Projection { return lastSeen{} }, "seed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeTB{}
			projectiontest.Run(f, tc.proj, history(3, 4, 3))
			if tc.wantErr == "" {
				assert.Empty(t, f.errors)
				return
			}
			require.Len(t, f.errors, 1)
			assert.Contains(t, f.errors[0], tc.wantErr)
			assert.Contains(t, f.errors[0], "last/event", "the report names the first differing key")
		})
	}
}

func TestHarnessRejectsBadHistory(t *testing.T) {
	t.Parallel()
	h := history(1, 1, 1)
	h[1], h[2] = h[2], h[1] // version 3 before version 2
	f := &fakeTB{}
	projectiontest.Run(f, func() projections.Projection { return itemCounts{} }, h)
	require.Len(t, f.errors, 1)
	assert.True(t, strings.Contains(f.errors[0], "concurrency"), f.errors[0])
}

// flaky fails on one event whatever the order, so it is parked identically in every run.
type flaky struct{ itemCounts }

func (flaky) Name() string { return "flaky" }
func (f flaky) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	if err := f.itemCounts.Apply(ctx, tx, ev); err != nil {
		return err
	}
	if ev.ID == "ev-0-1-3" {
		return errors.New("poison")
	}
	return nil
}

func TestHarnessParkedEventsAgree(t *testing.T) {
	t.Parallel()
	projectiontest.Run(t, func() projections.Projection { return flaky{} }, history(2, 3, 2), projectiontest.Seeds(5))
}
