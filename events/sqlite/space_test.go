package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

// bigEvent is an event of about 2 KiB, so that a few fill a page.
func bigEvent(tag string) events.NewEvent {
	return events.NewEvent{Type: "space.filled", Data: json.RawMessage(fmt.Sprintf(`{"tag":%q,"pad":%q}`, tag, strings.Repeat("x", 2000)))}
}

// fillUntilFull appends one big event per new stream until an append fails, and
// returns the acknowledged events and the failure.
func fillUntilFull(t *testing.T, s *Store, prefix string) ([]events.Event, error) {
	t.Helper()
	var acked []events.Event
	for i := range 20_000 {
		res, err := s.Append(context.Background(), events.AppendRequest{Tenant: "t", Stream: events.StreamID(fmt.Sprintf("%s-%d", prefix, i)), Expected: events.NoStream, Events: []events.NewEvent{bigEvent(fmt.Sprintf("%s-%d", prefix, i))}})
		if err != nil {
			return acked, err
		}
		acked = append(acked, res.Events...)
	}
	t.Fatal("the store never filled up")
	return nil, nil
}

// requireAll checks that the store holds exactly want, in order, with contiguous
// positions: nothing acknowledged was lost, nothing failed was written, and no
// position was skipped or given twice.
func requireAll(t *testing.T, s *Store, want []events.Event) {
	t.Helper()
	page, err := s.ReadAll(context.Background(), "", events.ReadOptions{Limit: 100_000})
	require.NoError(t, err)
	require.Len(t, page.Events, len(want))
	for i, e := range page.Events {
		require.Equal(t, want[i].ID, e.ID, "event %d", i)
		require.Equal(t, want[i].Position, e.Position, "event %d", i)
		require.JSONEq(t, string(want[i].Data), string(e.Data), "event %d", i)
		if i > 0 {
			require.Equal(t, page.Events[i-1].Position+1, e.Position, "positions are contiguous")
		}
	}
}

// TestStorageFullFailsWholeBatchesAndRecovers fills the store to SQLite's
// max_page_count, which is a real SQLITE_FULL from the engine, raised while the
// INSERTs of a group commit run: every append of a failed batch fails with
// ErrStorageFull, reads go on, Writable reports the store not writable (its probe
// included), and once there is room again the writer goes on from a clean state:
// the next positions follow the last acknowledged one, the stream heads and the
// stream cache hold no trace of the failed appends, and a reopen finds exactly what
// was acknowledged.
func TestStorageFullFailsWholeBatchesAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()

	first, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: "x", Expected: events.NoStream, Events: []events.NewEvent{bigEvent("x1")}})
	require.NoError(t, err)
	acked := first.Events
	require.NoError(t, s.Writable(ctx))

	s.SetMaxPages(1) // held at its current size
	more, err := fillUntilFull(t, s, "fill")
	acked = append(acked, more...)
	require.ErrorIs(t, err, events.ErrStorageFull)
	require.ErrorIs(t, err, events.ErrUnavailable, "a full store is an unavailable one: retry later")
	require.ErrorIs(t, s.Writable(ctx), events.ErrStorageFull)

	// Concurrent appends share group commits; each fails whole, including the
	// one that would make stream x's version 2.
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for g := range errs {
		wg.Go(func() {
			stream, expected := events.StreamID(fmt.Sprintf("late-%d", g)), events.NoStream
			if g == 0 {
				stream, expected = "x", events.Exactly(1)
			}
			_, errs[g] = s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: stream, Expected: expected, Events: []events.NewEvent{bigEvent("lost"), bigEvent("lost")}})
		})
	}
	wg.Wait()
	for g, err := range errs {
		require.ErrorIs(t, err, events.ErrStorageFull, "append %d", g)
	}

	// Reads keep working.
	got, err := s.Load(ctx, "t", "x", 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	requireAll(t, s, acked)

	// A probe on a full store fails too: it needs room as an append does.
	time.Sleep(probeEvery)
	require.ErrorIs(t, s.Writable(ctx), events.ErrStorageFull)

	// Room again: the probe alone makes the store writable, with no append.
	s.SetMaxPages(0)
	require.Eventually(t, func() bool { return s.Writable(ctx) == nil }, 10*time.Second, 50*time.Millisecond)
	requireAll(t, s, acked)

	res, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: "x", Expected: events.Exactly(1), Events: []events.NewEvent{bigEvent("x2")}})
	require.NoError(t, err, "stream x's head is still 1")
	require.Equal(t, acked[len(acked)-1].Position+1, res.Events[0].Position, "the failed appends' positions are given again, once")
	acked = append(acked, res.Events...)
	got, err = s.Load(ctx, "t", "x", 1)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Contains(t, string(got[1].Data), `"x2"`, "the cache holds no failed append")
	for i := range 20 {
		res, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: events.StreamID(fmt.Sprintf("after-%d", i)), Expected: events.NoStream, Events: []events.NewEvent{bigEvent("after")}})
		require.NoError(t, err)
		acked = append(acked, res.Events...)
	}
	requireAll(t, s, acked)

	// Full again; this time an append that commits makes it writable at once.
	s.SetMaxPages(1)
	more, err = fillUntilFull(t, s, "again")
	acked = append(acked, more...)
	require.ErrorIs(t, err, events.ErrStorageFull)
	require.ErrorIs(t, s.Writable(ctx), events.ErrStorageFull)
	s.SetMaxPages(0)
	res, err = s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: "x", Expected: events.Exactly(2), Events: []events.NewEvent{bigEvent("x3")}})
	require.NoError(t, err)
	acked = append(acked, res.Events...)
	require.NoError(t, s.Writable(ctx), "no probe needed: the append committed")
	requireAll(t, s, acked)

	require.NoError(t, s.Close())
	r, err := Open(path)
	require.NoError(t, err)
	defer r.Close()
	requireAll(t, r, acked)
}

// TestNoSpaceRecognisesEveryWayOfRunningOut: SQLITE_FULL, an I/O error whose errno
// is ENOSPC (SQLite reports so when growing the WAL index fails) and a bare ENOSPC
// are a full store; other failures are not.
func TestNoSpaceRecognisesEveryWayOfRunningOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		full bool
	}{
		{"SQLITE_FULL", sqlite3.Error{Code: sqlite3.ErrFull, ExtendedCode: sqlite3.ErrNoExtended(sqlite3.ErrFull)}, true},
		{"I/O error with ENOSPC", fmt.Errorf("commit: %w", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrSHMSize, SystemErrno: syscall.ENOSPC}), true},
		{"ENOSPC", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{"other I/O error", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrWrite, SystemErrno: syscall.EIO}, false},
		{"constraint", sqlite3.Error{Code: sqlite3.ErrConstraint}, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NoSpace(tt.err)
			assert.Equal(t, tt.full, errors.Is(err, events.ErrStorageFull), "%v", err)
			assert.ErrorIs(t, err, tt.err, "the cause is kept")
		})
	}
}
