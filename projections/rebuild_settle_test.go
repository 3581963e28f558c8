package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

// lateStore is a memstore whose reads, like an eventually consistent index, do
// not show the events from position hideFrom on (nor move a cursor past them)
// until they are revealed, and which declares a settle window.
type lateStore struct {
	*memstore.Store
	window time.Duration

	mu       sync.Mutex
	hideFrom int64 // 0: everything shows
}

var _ projections.SettleWindower = (*lateStore)(nil)

func (s *lateStore) SettleWindow() time.Duration { return s.window }

func (s *lateStore) hide(from int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hideFrom = from
}

func (s *lateStore) ReadAll(ctx context.Context, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	page, err := s.Store.ReadAll(ctx, after, opts)
	return s.filter(after, page), err
}

func (s *lateStore) ReadTenant(ctx context.Context, tenant events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	page, err := s.Store.ReadTenant(ctx, tenant, after, opts)
	return s.filter(after, page), err
}

func (s *lateStore) filter(after events.Cursor, page events.Page) events.Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hideFrom == 0 {
		return page
	}
	for i, ev := range page.Events {
		if ev.Position < s.hideFrom {
			continue
		}
		next := after
		if i > 0 {
			next = memstore.FormatCursor(page.Events[i-1].Position)
		}
		return events.Page{Events: page.Events[:i], Next: next}
	}
	return page
}

// conflictingBackend fails the next failures commits with ErrConflict, as
// projections/dynamodb does when a projector's commit won a race.
type conflictingBackend struct {
	*projections.MemoryBackend
	failures atomic.Int64
}

func (b *conflictingBackend) Begin(ctx context.Context) (projections.BackendTx, error) {
	tx, err := b.MemoryBackend.Begin(ctx)
	return &conflictingTx{BackendTx: tx, b: b}, err
}

type conflictingTx struct {
	projections.BackendTx
	b *conflictingBackend
}

func (t *conflictingTx) Commit() error {
	if t.b.failures.Add(-1) >= 0 {
		_ = t.Rollback()
		return fmt.Errorf("commit: %w", projections.ErrConflict)
	}
	return t.BackendTx.Commit()
}

// A projector (a second engine on the same backend, as a projector function on
// AWS) applies an event to the old generation while a rebuild runs, and the
// store's reads show that event only after the switch. The rebuild must still
// end with the event in the new generation, applied once.
func TestRebuildWaitsOutTheSettleWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		window     time.Duration
		consistent bool  // the store shows the late event at once
		conflicts  int64 // commits failing with ErrConflict once settling starts
		cancel     bool  // cancel the rebuild's context once settling starts
		wantErr    string
		wantIs     error
		// wantT1 is t1's count after the rebuild: 4 with the late event.
		wantT1     int
		wantPhases []string
	}{
		{name: "late event reaches the new generation", window: 50 * time.Millisecond, wantT1: 4,
			wantPhases: []string{projections.PhaseRebuilding, projections.PhaseCatchingUp, projections.PhaseSettling, projections.PhaseSwitched}},
		{name: "conflicting commits are retried", window: 50 * time.Millisecond, conflicts: 2, wantT1: 4,
			wantPhases: []string{projections.PhaseRebuilding, projections.PhaseCatchingUp, projections.PhaseSettling, projections.PhaseSwitched}},
		{name: "endless conflicts fail after the switch", window: 50 * time.Millisecond, conflicts: 1000,
			wantErr: "conflicted 6 times", wantIs: projections.ErrConflict, wantT1: 3,
			wantPhases: []string{projections.PhaseRebuilding, projections.PhaseCatchingUp, projections.PhaseSettling}},
		{name: "cancelled while settling", window: time.Hour, cancel: true, wantIs: context.Canceled, wantT1: 3,
			wantPhases: []string{projections.PhaseRebuilding, projections.PhaseCatchingUp, projections.PhaseSettling}},
		// Without a settle window nothing changes: the rebuild ends at the switch,
		// and the catch-up under the lock sees what a consistent store committed.
		{name: "no settle window", window: 0, consistent: true, wantT1: 4,
			wantPhases: []string{projections.PhaseRebuilding, projections.PhaseCatchingUp, projections.PhaseSwitched}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			mem := memstore.New()
			store := &lateStore{Store: mem, window: tt.window}
			backend := &conflictingBackend{MemoryBackend: projections.NewMemoryBackend()}
			add := func(tenant events.TenantID, stream events.StreamID) events.Event {
				res, err := mem.Append(ctx, events.AppendRequest{Tenant: tenant, Stream: stream, Expected: events.AnyVersion,
					Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(`{}`)}}})
				require.NoError(t, err)
				return res.Events[0]
			}
			// The projector reads the store with consistent loads only (gap fill).
			projector, err := projections.NewEngine(projections.EngineOptions{Store: mem, Backend: backend.MemoryBackend,
				Projections: []projections.Projection{projectiontest.Tally{}}})
			require.NoError(t, err)
			rebuilder, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend,
				Projections: []projections.Projection{projectiontest.Tally{}}})
			require.NoError(t, err)

			var history []events.Event
			for range 3 {
				history = append(history, add("t1", "s1"), add("t2", "s2"))
			}
			require.NoError(t, projector.Handle(ctx, history))
			late := add("t1", "s1")
			if !tt.consistent {
				store.hide(late.Position)
			}

			var phases []string
			var live events.Event
			progress := func(p projections.Progress) {
				if len(phases) > 0 && phases[len(phases)-1] == p.Phase {
					return
				}
				phases = append(phases, p.Phase)
				switch p.Phase {
				case projections.PhaseCatchingUp:
					// Committed, not yet shown by reads, applied to the old generation.
					require.NoError(t, projector.Handle(ctx, []events.Event{late}))
				case projections.PhaseSettling, projections.PhaseSwitched:
					store.hide(0)
					if p.Phase != projections.PhaseSettling {
						return
					}
					// A live event after the switch goes to the new generation; the
					// settling drain reads it too and must not apply it again.
					live = add("t2", "s2")
					require.NoError(t, projector.Handle(ctx, []events.Event{live}))
					backend.failures.Store(tt.conflicts)
					if tt.cancel {
						cancel()
					}
				}
			}
			err = rebuilder.Rebuild(ctx, "tally", projections.RebuildOptions{BatchSize: 2, Progress: progress})
			if tt.wantErr != "" || tt.wantIs != nil {
				require.Error(t, err)
				assert.ErrorContains(t, err, tt.wantErr)
				assert.ErrorContains(t, err, "switched to generation", "the error says the switch stands")
				if tt.wantIs != nil {
					assert.ErrorIs(t, err, tt.wantIs)
				}
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantPhases, phases)

			bg := context.Background()
			count := func(tenant events.TenantID) int {
				v, err := backend.Get(bg, "tally", tenant, "c", "n")
				require.NoError(t, err, "the new generation is active and kept, even after a failure")
				n, _ := strconv.Atoi(string(v))
				return n
			}
			assertOnce := func() {
				t.Helper()
				for _, tenant := range []events.TenantID{"t1", "t2"} {
					applied, err := backend.List(bg, "tally", tenant, "applied", "", 0)
					require.NoError(t, err)
					for _, e := range applied {
						assert.Equal(t, "1", string(e.Value), "event %s applied once", e.Key)
					}
				}
			}
			assert.Equal(t, tt.wantT1, count("t1"), "t1 with the late event")
			wantT2 := 3
			if live.ID != "" {
				wantT2 = 4
			}
			assert.Equal(t, wantT2, count("t2"))
			assertOnce()

			// Redelivered to the projector, everything is skipped once the rebuild
			// has applied it.
			if err == nil {
				again := append(history, late)
				if live.ID != "" {
					again = append(again, live)
				}
				require.NoError(t, projector.Handle(bg, again))
				assert.Equal(t, tt.wantT1, count("t1"))
				assert.Equal(t, wantT2, count("t2"))
				assertOnce()
			}
		})
	}
}
