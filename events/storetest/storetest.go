package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
)

// TimePrecision is the precision every backend keeps for OccurredAt and RecordedAt:
// times come back in UTC, truncated to whole microseconds (DynamoDB and SQLite both
// store them as integers of this unit).
const TimePrecision = time.Microsecond

// Options selects which cases run.
type Options struct {
	// SkipConcurrency leaves out the cases that race many goroutines, for backends
	// whose test doubles cannot run them (moto's transactions race).
	SkipConcurrency bool
}

// NewStore makes an empty store for one case, stamping and expiring with clk.
type NewStore func(t *testing.T, clk clock.Clock) events.Store

// Run runs every case against stores made by newStore; each case gets a new store.
func Run(t *testing.T, newStore NewStore) {
	RunWith(t, Options{}, newStore)
}

type testCase struct {
	name       string
	concurrent bool
	run        func(t *testing.T, s events.Store)
	// clocked cases get a store on a test clock they move themselves.
	clocked func(t *testing.T, s events.Store, clk *clock.Test)
}

// RunWith runs the cases selected by opts.
func RunWith(t *testing.T, opts Options, newStore NewStore) {
	cases := []testCase{
		{name: "IdempotencyFingerprint", run: idempotencyFingerprint},
		{name: "IdempotencyLookup", run: idempotencyLookup},
		{name: "ConcurrentFingerprints", concurrent: true, run: concurrentFingerprints},
		{name: "IdempotencyKeyExpires", clocked: idempotencyExpiry},
		{name: "RoundTripEveryField", run: roundTrip},
		{name: "Defaults", run: defaults},
		{name: "ExpectedVersion", run: expectedVersion},
		{name: "ConcurrentExactAppends", concurrent: true, run: concurrentAppends},
		{name: "ExpectedVersionOfSingleEvents", run: singleEventExpectations},
		{name: "ConcurrentSingleEventAppends", concurrent: true, run: concurrentSingleAppends},
		{name: "ConcurrentIdempotentRetries", concurrent: true, run: concurrentIdempotent},
		{name: "IdempotentRetry", run: idempotentRetry},
		{name: "IdempotencyKeyReuse", run: idempotencyKeyReuse},
		{name: "SkipDuplicateIDs", run: skipDuplicateIDs},
		{name: "ConcurrentDuplicateIDs", concurrent: true, run: concurrentDuplicateIDs},
		{name: "ClaimKeys", run: claimKeys},
		{name: "ConcurrentClaimKeys", concurrent: true, run: concurrentClaimKeys},
		{name: "TenantIsolation", run: tenantIsolation},
		{name: "TenantScope", run: tenantScope},
		{name: "LoadMissingStream", run: loadMissing},
		{name: "LoadFrom", run: loadFrom},
		{name: "RejectedAppendsWriteNothing", run: rejected},
		{name: "MultiEventAppendAtomic", run: multiEventAtomic},
		{name: "ReadAllPages", run: readAllPages},
		{name: "ReadTenantPages", run: readTenantPages},
		{name: "TypesFilter", run: typesFilter},
		{name: "CursorAtEndPicksUpLaterAppends", run: cursorAtEnd},
		{name: "InvalidCursor", run: invalidCursor},
		{name: "ContextCancelled", run: contextCancelled},
		{name: "Closed", run: closed},
	}
	for _, tc := range cases {
		if tc.concurrent && opts.SkipConcurrency {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.clocked != nil {
				clk := clock.NewTest(time.Now().UTC())
				tc.clocked(t, newStore(t, clk), clk)
				return
			}
			tc.run(t, newStore(t, clock.System{}))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ev(typ string, data string) events.NewEvent {
	return events.NewEvent{Type: typ, Data: json.RawMessage(data)}
}

func req(tenant events.TenantID, stream events.StreamID, exp events.ExpectedVersion, evs ...events.NewEvent) events.AppendRequest {
	return events.AppendRequest{Tenant: tenant, Stream: stream, StreamType: "thing", Expected: exp, Events: evs}
}

func mustAppend(t *testing.T, s events.Store, r events.AppendRequest) events.AppendResult {
	t.Helper()
	res, err := s.Append(ctxT(t), r)
	require.NoError(t, err)
	require.Len(t, res.Events, len(r.Events))
	return res
}

func ids(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// normalize drops what a backend may legitimately differ in (Position) so results
// of Append and Load can be compared whole.
func normalize(evs []events.Event) []events.Event {
	out := make([]events.Event, len(evs))
	for i, e := range evs {
		e.Position = 0
		out[i] = e
	}
	return out
}

// readEverything pages through ReadAll (tenant == "") or ReadTenant with limit.
func readEverything(t *testing.T, s events.Store, tenant events.TenantID, limit int, types []string) ([]events.Event, events.Cursor) {
	t.Helper()
	var all []events.Event
	var cur events.Cursor
	for range 10_000 {
		var p events.Page
		var err error
		opts := events.ReadOptions{Limit: limit, Types: types}
		if tenant == "" {
			p, err = s.ReadAll(ctxT(t), cur, opts)
		} else {
			p, err = s.ReadTenant(ctxT(t), tenant, cur, opts)
		}
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Events), limit)
		require.NotEmpty(t, p.Next, "Next must always point somewhere, even at the end")
		all = append(all, p.Events...)
		cur = p.Next
		if !p.More && len(p.Events) == 0 {
			return all, cur
		}
	}
	t.Fatal("paging never ended")
	return nil, ""
}

func roundTrip(t *testing.T, s events.Store) {
	occurred := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 3600))
	r := events.AppendRequest{
		Tenant: "tenant-a", Stream: "item-1", StreamType: "item", Expected: events.NoStream,
		IdempotencyKey: "k-1", CorrelationID: "corr-1", CausationID: "cause-1", Actor: "user:alice",
		Events: []events.NewEvent{
			{ID: "0190a0b0-0000-7000-8000-000000000001", Type: "item.created", SchemaVersion: 3, OccurredAt: occurred,
				Data: json.RawMessage(`{ "name": "Widget", "price": "12.50", "tags": ["a", "b"], "nested": {"x": 1} }`)},
			{Type: "item.renamed", Data: json.RawMessage(`{"name":"Gadget \u00e9"}`)},
		},
	}
	before := time.Now().UTC().Add(-time.Minute)
	res := mustAppend(t, s, r)
	assert.False(t, res.Duplicate)
	assert.Equal(t, int64(2), res.LastVersion())

	e0, e1 := res.Events[0], res.Events[1]
	assert.Equal(t, "0190a0b0-0000-7000-8000-000000000001", e0.ID)
	assert.Equal(t, events.TenantID("tenant-a"), e0.TenantID)
	assert.Equal(t, events.StreamID("item-1"), e0.StreamID)
	assert.Equal(t, "item", e0.StreamType)
	assert.Equal(t, int64(1), e0.Version)
	assert.Equal(t, "item.created", e0.Type)
	assert.Equal(t, 3, e0.SchemaVersion)
	assert.Equal(t, occurred.UTC().Truncate(TimePrecision), e0.OccurredAt)
	assert.Equal(t, time.UTC, e0.OccurredAt.Location())
	assert.Equal(t, time.UTC, e0.RecordedAt.Location())
	assert.Equal(t, e0.RecordedAt, e0.RecordedAt.Truncate(TimePrecision))
	assert.True(t, e0.RecordedAt.After(before), "recorded_at comes from the store's clock")
	assert.Equal(t, "corr-1", e0.CorrelationID)
	assert.Equal(t, "cause-1", e0.CausationID)
	assert.Equal(t, "user:alice", e0.Actor)
	assert.JSONEq(t, `{"name":"Widget","price":"12.50","tags":["a","b"],"nested":{"x":1}}`, string(e0.Data))

	assert.NotEmpty(t, e1.ID)
	assert.NotEqual(t, e0.ID, e1.ID)
	assert.Equal(t, int64(2), e1.Version)
	assert.Equal(t, 1, e1.SchemaVersion, "schema version defaults to 1")
	assert.Equal(t, e1.RecordedAt, e1.OccurredAt, "occurred_at defaults to recorded_at")
	assert.JSONEq(t, `{"name":"Gadget é"}`, string(e1.Data))

	loaded, err := s.Load(ctxT(t), "tenant-a", "item-1", 0)
	require.NoError(t, err)
	assert.Equal(t, normalize(res.Events), normalize(loaded), "Load returns exactly what Append returned")

	all, _ := readEverything(t, s, "", 10, nil)
	assert.Equal(t, normalize(res.Events), normalize(all))
	if all[0].Position != 0 {
		assert.Less(t, all[0].Position, all[1].Position, "positions grow")
		assert.Equal(t, loaded[0].Position, all[0].Position)
	}
}

func defaults(t *testing.T, s events.Store) {
	res := mustAppend(t, s, req("t1", "s1", events.AnyVersion, ev("a.b", `{}`)))
	e := res.Events[0]
	assert.Equal(t, int64(1), e.Version)
	assert.NotEmpty(t, e.ID)
	assert.Equal(t, 1, e.SchemaVersion)
	assert.False(t, e.RecordedAt.IsZero())
	assert.Equal(t, e.RecordedAt, e.OccurredAt)
}

func expectedVersion(t *testing.T, s events.Store) {
	const tn = events.TenantID("t1")
	steps := []struct {
		name    string
		exp     events.ExpectedVersion
		wantErr error
		wantVer int64
	}{
		{"exact 1 on a missing stream conflicts", events.Exactly(1), events.ErrConcurrency, 0},
		{"no stream creates it", events.NoStream, nil, 1},
		{"no stream again conflicts", events.NoStream, events.ErrConcurrency, 1},
		{"exact current appends", events.Exactly(1), nil, 2},
		{"stale exact conflicts", events.Exactly(1), events.ErrConcurrency, 2},
		{"future exact conflicts", events.Exactly(5), events.ErrConcurrency, 2},
		{"any appends", events.AnyVersion, nil, 3},
		{"exact after any", events.Exactly(3), nil, 4},
	}
	for _, st := range steps {
		_, err := s.Append(ctxT(t), req(tn, "s", st.exp, ev("x.happened", `{"step":"`+st.name+`"}`)))
		if st.wantErr != nil {
			require.ErrorIs(t, err, st.wantErr, st.name)
		} else {
			require.NoError(t, err, st.name)
		}
		got, err := s.Load(ctxT(t), tn, "s", 1)
		if st.wantVer == 0 {
			require.ErrorIs(t, err, events.ErrNotFound, st.name)
			continue
		}
		require.NoError(t, err, st.name)
		require.Len(t, got, int(st.wantVer), st.name)
	}
	_, err := s.Append(ctxT(t), req(tn, "any-new", events.AnyVersion, ev("x.happened", `{}`)))
	require.NoError(t, err, "any version creates a stream too")
}

func concurrentAppends(t *testing.T, s events.Store) {
	const goroutines, attempts = 16, 20
	const tn, sid = events.TenantID("race"), events.StreamID("hot")
	type win struct {
		version int64
		ids     []string
	}
	var mu sync.Mutex
	var wins []win
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*attempts)
	for g := range goroutines {
		wg.Go(func() {
			for a := range attempts {
				var head int64
				cur, err := s.Load(ctxT(t), tn, sid, 1)
				switch {
				case errors.Is(err, events.ErrNotFound):
				case err != nil:
					errs <- err
					return
				default:
					head = int64(len(cur))
				}
				n := 1 + (g+a)%3
				evs := make([]events.NewEvent, n)
				for i := range evs {
					evs[i] = ev("race.won", fmt.Sprintf(`{"g":%d,"a":%d,"i":%d}`, g, a, i))
				}
				res, err := s.Append(ctxT(t), req(tn, sid, events.Exactly(head), evs...))
				if errors.Is(err, events.ErrConcurrency) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if res.Events[0].Version != head+1 {
					errs <- fmt.Errorf("won at %d, expected %d", res.Events[0].Version, head+1)
				}
				mu.Lock()
				wins = append(wins, win{res.Events[0].Version, ids(res.Events)})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NotEmpty(t, wins)
	slices.SortFunc(wins, func(a, b win) int { return int(a.version - b.version) })
	var want []string
	for i, w := range wins {
		if i > 0 {
			require.Greater(t, w.version, wins[i-1].version, "two appenders won version %d", w.version)
		}
		require.Equal(t, int64(len(want))+1, w.version, "winners must tile the versions without holes")
		want = append(want, w.ids...)
	}
	got, err := s.Load(ctxT(t), tn, sid, 1)
	require.NoError(t, err)
	assert.Equal(t, want, ids(got), "the stream holds exactly the winners, nothing lost or duplicated")
	for i, e := range got {
		require.Equal(t, int64(i+1), e.Version)
	}
	all, _ := readEverything(t, s, tn, 37, nil)
	assert.Equal(t, want, ids(all))
}

// singleEventExpectations appends one event at a time, the append a store may
// make without a transaction (events/dynamodb: one conditional PutItem), with
// and without a Load of the stream before it: a conflict is ErrConcurrency and
// writes nothing, and no expectation can leave a hole in the versions.
func singleEventExpectations(t *testing.T, s events.Store) {
	const tn = events.TenantID("single")
	type step struct {
		name    string
		load    bool // Load the stream first (a store may remember its head)
		exp     events.ExpectedVersion
		wantErr error
		wantVer int64
	}
	steps := []step{
		{"exact 2 on a missing stream conflicts", false, events.Exactly(2), events.ErrConcurrency, 0},
		{"no stream creates it", false, events.NoStream, nil, 1},
		{"exact 2 when at 1 conflicts (no hole at 2)", true, events.Exactly(2), events.ErrConcurrency, 1},
		{"exact 1 after a load appends", true, events.Exactly(1), nil, 2},
		{"exact 1 again after a load conflicts", true, events.Exactly(1), events.ErrConcurrency, 2},
		{"exact 2 without a load appends", false, events.Exactly(2), nil, 3},
		{"exact 3 straight after it appends", false, events.Exactly(3), nil, 4},
		{"exact 3 again conflicts", false, events.Exactly(3), events.ErrConcurrency, 4},
		{"no stream on an existing stream conflicts", true, events.NoStream, events.ErrConcurrency, 4},
		{"exact 6 past the head conflicts", true, events.Exactly(6), events.ErrConcurrency, 4},
		{"any appends", false, events.AnyVersion, nil, 5},
		{"exact 5 after any appends", false, events.Exactly(5), nil, 6},
	}
	for _, st := range steps {
		if st.load {
			_, err := s.Load(ctxT(t), tn, "s", 1)
			if st.wantVer == 0 {
				require.ErrorIs(t, err, events.ErrNotFound, st.name)
			} else {
				require.NoError(t, err, st.name)
			}
		}
		res, err := s.Append(ctxT(t), req(tn, "s", st.exp, ev("x.happened", `{"step":"`+st.name+`"}`)))
		if st.wantErr != nil {
			require.ErrorIs(t, err, st.wantErr, st.name)
		} else {
			require.NoError(t, err, st.name)
			require.Len(t, res.Events, 1, st.name)
			require.Equal(t, st.wantVer, res.Events[0].Version, st.name)
		}
		got, err := s.Load(ctxT(t), tn, "s", 1)
		if st.wantVer == 0 {
			require.ErrorIs(t, err, events.ErrNotFound, st.name)
			continue
		}
		require.NoError(t, err, st.name)
		require.Len(t, got, int(st.wantVer), st.name)
		for i, e := range got {
			require.Equal(t, int64(i+1), e.Version, st.name)
		}
		if i := len(got) - 1; i > 0 {
			require.False(t, got[i].RecordedAt.Before(got[i-1].RecordedAt), "%s: recorded_at never decreases along a stream", st.name)
		}
	}
}

// concurrentSingleAppends races one-event appends with every kind of
// expectation on one stream: exact at the version a Load read, no stream, and
// any version. Exactly one appender wins each version, the losers of exact and
// no-stream appends get ErrConcurrency, and the stream holds the winners only.
func concurrentSingleAppends(t *testing.T, s events.Store) {
	const goroutines, attempts = 16, 15
	const tn, sid = events.TenantID("race1"), events.StreamID("hot")
	var mu sync.Mutex
	won := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*attempts)
	for g := range goroutines {
		wg.Go(func() {
			for a := range attempts {
				exp := events.AnyVersion
				if (g+a)%3 != 0 {
					cur, err := s.Load(ctxT(t), tn, sid, 1)
					switch {
					case errors.Is(err, events.ErrNotFound):
						exp = events.NoStream
					case err != nil:
						errs <- err
						return
					default:
						exp = events.Exactly(int64(len(cur)))
					}
				}
				e := ev("race.won", fmt.Sprintf(`{"g":%d,"a":%d}`, g, a))
				res, err := s.Append(ctxT(t), req(tn, sid, exp, e))
				if errors.Is(err, events.ErrConcurrency) && exp != events.AnyVersion {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("append at %d: %w", exp, err)
					return
				}
				v := res.Events[0].Version
				if exp >= 0 && v != int64(exp)+1 {
					errs <- fmt.Errorf("won at %d, expected %d", v, int64(exp)+1)
				}
				mu.Lock()
				if prev, dup := won[v]; dup {
					errs <- fmt.Errorf("version %d won twice: %s and %s", v, prev, res.Events[0].ID)
				}
				won[v] = res.Events[0].ID
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Load(ctxT(t), tn, sid, 1)
	require.NoError(t, err)
	require.Len(t, got, len(won), "every winner is stored, nothing else")
	for i, e := range got {
		require.Equal(t, int64(i+1), e.Version, "no holes")
		assert.Equal(t, won[e.Version], e.ID, "version %d holds its winner", e.Version)
	}
}

func concurrentIdempotent(t *testing.T, s events.Store) {
	const n = 16
	results := make([]events.AppendResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := req("t1", "s", events.NoStream, ev("a.b", `{"x":1}`), ev("a.c", `{"x":2}`))
			r.IdempotencyKey = "same"
			results[i], errs[i] = s.Append(ctxT(t), r)
		})
	}
	wg.Wait()
	firsts := 0
	for i := range n {
		require.NoError(t, errs[i], "a retry with the key never conflicts")
		if !results[i].Duplicate {
			firsts++
		}
		assert.Equal(t, ids(results[0].Events), ids(results[i].Events))
	}
	assert.Equal(t, 1, firsts, "exactly one attempt writes")
	got, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

func idempotentRetry(t *testing.T, s events.Store) {
	r := req("t1", "s", events.NoStream, ev("a.b", `{"n":1}`), ev("a.c", `{"n":2}`))
	r.IdempotencyKey = "cmd-42"
	first := mustAppend(t, s, r)
	require.False(t, first.Duplicate)

	tests := []struct {
		name   string
		mutate func(r *events.AppendRequest)
	}{
		{"identical retry", func(*events.AppendRequest) {}},
		{"retry with stale expected version", func(r *events.AppendRequest) { r.Expected = events.NoStream }},
		{"retry with different data", func(r *events.AppendRequest) { r.Events = []events.NewEvent{ev("z.z", `{"other":true}`)} }},
	}
	for _, tc := range tests {
		retry := r
		tc.mutate(&retry)
		res, err := s.Append(ctxT(t), retry)
		require.NoError(t, err, tc.name)
		assert.True(t, res.Duplicate, tc.name)
		assert.Equal(t, normalize(first.Events), normalize(res.Events), tc.name)
	}
	got, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	assert.Equal(t, ids(first.Events), ids(got), "retries wrote nothing")

	// The key is scoped to the tenant: another tenant may use it freely.
	other := r
	other.Tenant = "t2"
	res := mustAppend(t, s, other)
	assert.False(t, res.Duplicate)
	// A later append without the key still works and moves on.
	next := mustAppend(t, s, req("t1", "s", events.Exactly(2), ev("a.d", `{}`)))
	assert.Equal(t, int64(3), next.LastVersion())
	res, err = s.Append(ctxT(t), r)
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
	assert.Equal(t, int64(2), res.LastVersion(), "the first result, not the stream's head")
}

func idempotencyKeyReuse(t *testing.T, s events.Store) {
	r := req("t1", "s1", events.NoStream, ev("a.b", `{}`))
	r.IdempotencyKey = "k"
	mustAppend(t, s, r)
	r.Stream = "s2"
	_, err := s.Append(ctxT(t), r)
	require.ErrorIs(t, err, events.ErrIdempotencyKeyReuse)
	_, err = s.Load(ctxT(t), "t1", "s2", 1)
	require.ErrorIs(t, err, events.ErrNotFound, "the rejected append wrote nothing")
}

func withID(id, typ, data string) events.NewEvent {
	e := ev(typ, data)
	e.ID = id
	return e
}

func skipDuplicateIDs(t *testing.T, s events.Store) {
	dedup := func(tenant events.TenantID, stream events.StreamID, evs ...events.NewEvent) events.AppendResult {
		r := req(tenant, stream, events.AnyVersion, evs...)
		r.SkipDuplicateIDs = true
		res, err := s.Append(ctxT(t), r)
		require.NoError(t, err)
		return res
	}
	first := dedup("t1", "usage", withID("u1", "usage.recorded", `{"q":1}`), withID("u2", "usage.recorded", `{"q":2}`),
		withID("u1", "usage.recorded", `{"q":99}`))
	assert.Equal(t, []string{"u1", "u2"}, ids(first.Events), "a repeat inside the request is dropped")
	assert.Equal(t, 1, first.Skipped)

	again := dedup("t1", "usage", withID("u2", "usage.recorded", `{"q":2}`), withID("u3", "usage.recorded", `{"q":3}`))
	assert.Equal(t, []string{"u3"}, ids(again.Events))
	assert.Equal(t, 1, again.Skipped)
	assert.Equal(t, int64(3), again.LastVersion())

	all := dedup("t1", "usage", withID("u1", "usage.recorded", `{}`), withID("u3", "usage.recorded", `{}`))
	assert.Empty(t, all.Events, "nothing new: nothing written")
	assert.Equal(t, 2, all.Skipped)

	// Ids are per tenant, and on another stream of the tenant they still count.
	other := dedup("t2", "usage", withID("u1", "usage.recorded", `{}`))
	assert.Len(t, other.Events, 1)
	elsewhere := dedup("t1", "usage-2", withID("u2", "usage.recorded", `{}`))
	assert.Empty(t, elsewhere.Events)

	got, err := s.Load(ctxT(t), "t1", "usage", 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"u1", "u2", "u3"}, ids(got))
	var data []string
	for _, e := range got {
		data = append(data, string(e.Data))
	}
	assert.Equal(t, `{"q":1}`, data[0], "the first record wins")

	// Without an id the request is malformed.
	r := req("t1", "usage", events.AnyVersion, ev("usage.recorded", `{}`))
	r.SkipDuplicateIDs = true
	_, err = s.Append(ctxT(t), r)
	require.ErrorIs(t, err, events.ErrInvalid)
}

// concurrentDuplicateIDs races retries of the same records: each id is stored once.
func concurrentDuplicateIDs(t *testing.T, s events.Store) {
	const workers, records = 8, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < records; i++ {
				r := req("t1", "usage", events.AnyVersion, withID(fmt.Sprintf("r%d", i), "usage.recorded", `{}`))
				r.SkipDuplicateIDs = true
				if _, err := s.Append(ctxT(t), r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Load(ctxT(t), "t1", "usage", 1)
	require.NoError(t, err)
	assert.Len(t, got, records, "every id exactly once")
	seen := map[string]bool{}
	for _, e := range got {
		assert.False(t, seen[e.ID], "duplicate %s", e.ID)
		seen[e.ID] = true
	}
}

func claimer(t *testing.T, s events.Store) events.KeyClaimer {
	t.Helper()
	kc, ok := s.(events.KeyClaimer)
	require.True(t, ok, "every backend implements events.KeyClaimer")
	return kc
}

func claimKeys(t *testing.T, s events.Store) {
	kc := claimer(t, s)
	claim := func(tenant events.TenantID, stream events.StreamID, keys ...string) error {
		r := req(tenant, stream, events.AnyVersion, ev("usage.reported", `{}`))
		r.ClaimKeys = keys
		_, err := s.Append(ctxT(t), r)
		return err
	}
	require.NoError(t, claim("t1", "usage", "a", "b"))
	known, err := kc.ClaimedKeys(ctxT(t), "t1", []string{"a", "b", "c"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"a": true, "b": true}, known)

	err = claim("t1", "usage", "c", "b")
	require.ErrorIs(t, err, events.ErrKeyClaimed)
	known, err = kc.ClaimedKeys(ctxT(t), "t1", []string{"c"})
	require.NoError(t, err)
	assert.Empty(t, known, "a failed append claims nothing")
	got, err := s.Load(ctxT(t), "t1", "usage", 1)
	require.NoError(t, err)
	assert.Len(t, got, 1, "and writes nothing")

	require.ErrorIs(t, claim("t1", "other-stream", "a"), events.ErrKeyClaimed, "keys are per tenant, across streams")
	require.NoError(t, claim("t2", "usage", "a", "b"), "another tenant's keys are its own")
	require.ErrorIs(t, claim("t1", "usage", "d", "d"), events.ErrInvalid, "a key twice in one append")
	require.ErrorIs(t, claim("t1", "usage", ""), events.ErrInvalid)

	// As many keys as fit one DynamoDB transaction with an event (99).
	many := make([]string, 99)
	for i := range many {
		many[i] = fmt.Sprintf("k-%04d", i)
	}
	require.NoError(t, claim("t1", "usage", many...))
	known, err = kc.ClaimedKeys(ctxT(t), "t1", append([]string{"zz"}, many...))
	require.NoError(t, err)
	assert.Len(t, known, len(many))
	assert.False(t, known["zz"])
}

// concurrentClaimKeys races appends claiming overlapping keys: each key is
// claimed by exactly one successful append.
func concurrentClaimKeys(t *testing.T, s events.Store) {
	const workers, rounds = 8, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[string]int{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				keys := []string{fmt.Sprintf("k%d", i), fmt.Sprintf("k%d", i+1)}
				r := req("t1", "usage", events.AnyVersion, ev("usage.reported", `{}`))
				r.ClaimKeys = keys
				_, err := s.Append(ctxT(t), r)
				if err == nil {
					mu.Lock()
					for _, k := range keys {
						won[k]++
					}
					mu.Unlock()
				} else if !errors.Is(err, events.ErrKeyClaimed) {
					t.Errorf("append: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for k, n := range won {
		assert.Equal(t, 1, n, "key %s claimed by exactly one append", k)
	}
	got, err := s.Load(ctxT(t), "t1", "usage", 1)
	require.NoError(t, err)
	keys := 0
	for range won {
		keys++
	}
	assert.Equal(t, keys, 2*len(got), "every successful append claimed two fresh keys")
}

func tenantIsolation(t *testing.T, s events.Store) {
	a := mustAppend(t, s, req("tenant-a", "shared", events.NoStream, ev("a.x", `{"who":"a"}`), ev("a.y", `{"who":"a"}`)))
	b := mustAppend(t, s, req("tenant-b", "shared", events.NoStream, ev("b.x", `{"who":"b"}`)))
	require.Equal(t, int64(1), b.LastVersion(), "tenant-b's stream is its own, starting at 1")

	la, err := s.Load(ctxT(t), "tenant-a", "shared", 1)
	require.NoError(t, err)
	assert.Equal(t, ids(a.Events), ids(la))
	lb, err := s.Load(ctxT(t), "tenant-b", "shared", 1)
	require.NoError(t, err)
	assert.Equal(t, ids(b.Events), ids(lb))
	_, err = s.Load(ctxT(t), "tenant-c", "shared", 1)
	require.ErrorIs(t, err, events.ErrNotFound)

	ra, _ := readEverything(t, s, "tenant-a", 1, nil)
	assert.Equal(t, ids(a.Events), ids(ra))
	rb, _ := readEverything(t, s, "tenant-b", 1, nil)
	assert.Equal(t, ids(b.Events), ids(rb))
	rc, _ := readEverything(t, s, "tenant-c", 5, nil)
	assert.Empty(t, rc)
	for _, e := range ra {
		assert.Equal(t, events.TenantID("tenant-a"), e.TenantID)
	}
}

func loadMissing(t *testing.T, s events.Store) {
	mustAppend(t, s, req("t1", "exists", events.NoStream, ev("a.b", `{}`)))
	for _, from := range []int64{-1, 0, 1, 2, 100} {
		_, err := s.Load(ctxT(t), "t1", "missing", from)
		require.ErrorIs(t, err, events.ErrNotFound, "from %d", from)
	}
}

func loadFrom(t *testing.T, s events.Store) {
	var evs []events.NewEvent
	for i := range 5 {
		evs = append(evs, ev("a.b", fmt.Sprintf(`{"i":%d}`, i)))
	}
	res := mustAppend(t, s, req("t1", "s", events.NoStream, evs...))
	tests := []struct {
		from int64
		want []string
	}{
		{-3, ids(res.Events)},
		{0, ids(res.Events)},
		{1, ids(res.Events)},
		{3, ids(res.Events[2:])},
		{5, ids(res.Events[4:])},
		{6, []string{}},
		{1000, []string{}},
	}
	for _, tc := range tests {
		got, err := s.Load(ctxT(t), "t1", "s", tc.from)
		require.NoError(t, err, "from %d", tc.from)
		assert.Equal(t, tc.want, ids(got), "from %d", tc.from)
	}
	// A caller may modify what Load returned without affecting the store.
	got, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	got[0].Type = "mutated"
	_ = append(got[:1], events.Event{ID: "intruder"})
	again, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	assert.Equal(t, ids(res.Events), ids(again))
	assert.Equal(t, "a.b", again[0].Type)
}

func rejected(t *testing.T, s events.Store) {
	big := `{"x":"` + strings.Repeat("a", 64<<10) + `"}`
	tooMany := make([]events.NewEvent, 101)
	for i := range tooMany {
		tooMany[i] = ev("a.b", `{}`)
	}
	tests := []struct {
		name string
		req  events.AppendRequest
		want error
	}{
		{"data over 64 KiB", req("t1", "s", events.AnyVersion, ev("a.b", big)), events.ErrTooLarge},
		{"over 100 events", req("t1", "s", events.AnyVersion, tooMany...), events.ErrTooLarge},
		{"data a JSON array", req("t1", "s", events.AnyVersion, ev("a.b", `[1,2]`)), events.ErrInvalid},
		{"data a JSON string", req("t1", "s", events.AnyVersion, ev("a.b", `"x"`)), events.ErrInvalid},
		{"data not JSON", req("t1", "s", events.AnyVersion, ev("a.b", `{"x":`)), events.ErrInvalid},
		{"data empty", req("t1", "s", events.AnyVersion, ev("a.b", ``)), events.ErrInvalid},
		{"valid then invalid event", req("t1", "s", events.AnyVersion, ev("a.b", `{}`), ev("a.b", `nope`)), events.ErrInvalid},
		{"no events", req("t1", "s", events.AnyVersion), events.ErrInvalid},
		{"no type", req("t1", "s", events.AnyVersion, ev("", `{}`)), events.ErrInvalid},
		{"empty tenant", req("", "s", events.AnyVersion, ev("a.b", `{}`)), events.ErrInvalid},
		{"tenant with #", req("t#1", "s", events.AnyVersion, ev("a.b", `{}`)), events.ErrInvalid},
		{"tenant with /", req("t/1", "s", events.AnyVersion, ev("a.b", `{}`)), events.ErrInvalid},
		{"empty stream", req("t1", "", events.AnyVersion, ev("a.b", `{}`)), events.ErrInvalid},
		{"stream with #", req("t1", "s#S#x", events.AnyVersion, ev("a.b", `{}`)), events.ErrInvalid},
		{"stream with space", req("t1", "s 1", events.AnyVersion, ev("a.b", `{}`)), events.ErrInvalid},
		{"expected below any", req("t1", "s", events.ExpectedVersion(-2), ev("a.b", `{}`)), events.ErrInvalid},
	}
	for _, tc := range tests {
		_, err := s.Append(ctxT(t), tc.req)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
	_, err := s.Load(ctxT(t), "t1", "s", 1)
	require.ErrorIs(t, err, events.ErrNotFound, "no rejected append wrote anything")
	all, _ := readEverything(t, s, "", 100, nil)
	assert.Empty(t, all)

	// Exactly at the limits is fine.
	atLimit := `{"x":"` + strings.Repeat("a", 64<<10-8) + `"}`
	mustAppend(t, s, req("t1", "s", events.NoStream, ev("a.b", atLimit)))
	mustAppend(t, s, req("t1", "s", events.Exactly(1), tooMany[:100]...))

	_, err = s.Load(ctxT(t), "", "s", 1)
	require.ErrorIs(t, err, events.ErrInvalid)
	_, err = s.Load(ctxT(t), "t1", "a#b", 1)
	require.ErrorIs(t, err, events.ErrInvalid)
	_, err = s.ReadTenant(ctxT(t), "t#1", "", events.ReadOptions{})
	require.ErrorIs(t, err, events.ErrInvalid)
}

func multiEventAtomic(t *testing.T, s events.Store) {
	mustAppend(t, s, req("t1", "s", events.NoStream, ev("a.b", `{}`)))
	// A conflicting three-event append writes none of them.
	_, err := s.Append(ctxT(t), req("t1", "s", events.NoStream, ev("a.b", `{}`), ev("a.b", `{}`), ev("a.b", `{}`)))
	require.ErrorIs(t, err, events.ErrConcurrency)
	got, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	res := mustAppend(t, s, req("t1", "s", events.Exactly(1), ev("a.b", `{"i":1}`), ev("a.b", `{"i":2}`), ev("a.b", `{"i":3}`)))
	for i, e := range res.Events {
		assert.Equal(t, int64(i+2), e.Version)
		assert.Equal(t, res.Events[0].RecordedAt, e.RecordedAt, "one append, one recorded_at")
	}
	got, err = s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	require.Len(t, got, 4)
}

// seedStreams appends interleaved multi-event appends to several streams of two
// tenants and returns the ids per (tenant, stream) in version order.
func seedStreams(t *testing.T, s events.Store) map[string][]string {
	want := map[string][]string{}
	for round := range 6 {
		for _, tn := range []events.TenantID{"ta", "tb"} {
			for st := range 3 {
				sid := events.StreamID(fmt.Sprintf("s%d", st))
				evs := []events.NewEvent{ev(fmt.Sprintf("type.%d", round%3), fmt.Sprintf(`{"r":%d}`, round))}
				if round%2 == 1 {
					evs = append(evs, ev("type.extra", `{}`))
				}
				res := mustAppend(t, s, req(tn, sid, events.Exactly(int64(len(want[string(tn)+"/"+string(sid)]))), evs...))
				want[string(tn)+"/"+string(sid)] = append(want[string(tn)+"/"+string(sid)], ids(res.Events)...)
			}
		}
	}
	return want
}

func group(evs []events.Event) map[string][]string {
	out := map[string][]string{}
	for _, e := range evs {
		k := string(e.TenantID) + "/" + string(e.StreamID)
		out[k] = append(out[k], e.ID)
	}
	return out
}

func checkExactlyOnce(t *testing.T, evs []events.Event) {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]int64{}
	for _, e := range evs {
		require.False(t, seen[e.ID], "event %s seen twice", e.ID)
		seen[e.ID] = true
		k := string(e.TenantID) + "/" + string(e.StreamID)
		require.Greater(t, e.Version, last[k], "stream %s out of version order", k)
		last[k] = e.Version
	}
}

func readAllPages(t *testing.T, s events.Store) {
	want := seedStreams(t, s)
	for _, limit := range []int{1, 2, 7, 1000} {
		all, _ := readEverything(t, s, "", limit, nil)
		checkExactlyOnce(t, all)
		assert.Equal(t, want, group(all), "limit %d", limit)
	}
	p, err := s.ReadAll(ctxT(t), "", events.ReadOptions{Limit: 5})
	require.NoError(t, err)
	assert.Len(t, p.Events, 5)
	assert.True(t, p.More)
}

func readTenantPages(t *testing.T, s events.Store) {
	want := seedStreams(t, s)
	for _, limit := range []int{1, 3, 1000} {
		got, _ := readEverything(t, s, "tb", limit, nil)
		checkExactlyOnce(t, got)
		wantB := map[string][]string{}
		for k, v := range want {
			if strings.HasPrefix(k, "tb/") {
				wantB[k] = v
			}
		}
		assert.Equal(t, wantB, group(got), "limit %d", limit)
	}
}

func typesFilter(t *testing.T, s events.Store) {
	seedStreams(t, s)
	for _, tn := range []events.TenantID{"", "ta"} {
		all, end := readEverything(t, s, tn, 1000, nil)
		filtered, fend := readEverything(t, s, tn, 2, []string{"type.1", "type.extra"})
		var want []string
		for _, e := range all {
			if e.Type == "type.1" || e.Type == "type.extra" {
				want = append(want, e.ID)
			}
		}
		require.NotEmpty(t, want)
		assert.Equal(t, want, ids(filtered), "tenant %q", tn)
		// A filter matching nothing still advances to the end.
		none, nend := readEverything(t, s, tn, 3, []string{"no.such.type"})
		assert.Empty(t, none)
		for _, c := range []events.Cursor{fend, nend} {
			var p events.Page
			var err error
			if tn == "" {
				p, err = s.ReadAll(ctxT(t), c, events.ReadOptions{})
			} else {
				p, err = s.ReadTenant(ctxT(t), tn, c, events.ReadOptions{})
			}
			require.NoError(t, err)
			assert.Empty(t, p.Events, "a filtered read's end cursor is past every event")
		}
		_ = end
	}
}

func cursorAtEnd(t *testing.T, s events.Store) {
	// An empty store's end cursor is valid too.
	p, err := s.ReadAll(ctxT(t), "", events.ReadOptions{})
	require.NoError(t, err)
	assert.Empty(t, p.Events)
	assert.False(t, p.More)
	emptyEnd := p.Next
	pt, err := s.ReadTenant(ctxT(t), "t1", "", events.ReadOptions{})
	require.NoError(t, err)
	emptyTenantEnd := pt.Next

	first := mustAppend(t, s, req("t1", "s", events.NoStream, ev("a.b", `{}`)))
	_, end := readEverything(t, s, "", 10, nil)
	_, tend := readEverything(t, s, "t1", 10, nil)
	for range 3 {
		p, err := s.ReadAll(ctxT(t), end, events.ReadOptions{})
		require.NoError(t, err)
		assert.Empty(t, p.Events)
		assert.False(t, p.More)
		assert.NotEmpty(t, p.Next)
		end = p.Next
	}
	later := mustAppend(t, s, req("t1", "s", events.Exactly(1), ev("a.c", `{}`), ev("a.d", `{}`)))
	mustAppend(t, s, req("t2", "s", events.NoStream, ev("a.e", `{}`)))

	p, err = s.ReadAll(ctxT(t), end, events.ReadOptions{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, ids(later.Events), ids(p.Events), "the tail picks up exactly the later appends")
	pt, err = s.ReadTenant(ctxT(t), "t1", tend, events.ReadOptions{})
	require.NoError(t, err)
	assert.Equal(t, ids(later.Events), ids(pt.Events))

	p, err = s.ReadAll(ctxT(t), emptyEnd, events.ReadOptions{Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, ids(first.Events), ids(p.Events))
	pt, err = s.ReadTenant(ctxT(t), "t1", emptyTenantEnd, events.ReadOptions{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, append(ids(first.Events), ids(later.Events)...), ids(pt.Events))
}

func invalidCursor(t *testing.T, s events.Store) {
	mustAppend(t, s, req("t1", "s", events.NoStream, ev("a.b", `{}`)))
	for _, c := range []events.Cursor{"garbage", "!!!", "-1", "\x00", events.Cursor(strings.Repeat("9", 400))} {
		_, err := s.ReadAll(ctxT(t), c, events.ReadOptions{})
		require.ErrorIs(t, err, events.ErrInvalidCursor, "cursor %q", c)
		_, err = s.ReadTenant(ctxT(t), "t1", c, events.ReadOptions{})
		require.ErrorIs(t, err, events.ErrInvalidCursor, "cursor %q", c)
	}
}

func contextCancelled(t *testing.T, s events.Store) {
	mustAppend(t, s, req("t1", "s", events.NoStream, ev("a.b", `{}`)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Append(ctx, req("t1", "s", events.Exactly(1), ev("a.b", `{}`)))
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Load(ctx, "t1", "s", 1)
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.ReadAll(ctx, "", events.ReadOptions{})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.ReadTenant(ctx, "t1", "", events.ReadOptions{})
	require.ErrorIs(t, err, context.Canceled)
	got, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	assert.Len(t, got, 1, "a cancelled append wrote nothing")

	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	_, err = s.Append(dctx, req("t1", "s", events.Exactly(1), ev("a.b", `{}`)))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func closed(t *testing.T, s events.Store) {
	mustAppend(t, s, req("t1", "s", events.NoStream, ev("a.b", `{}`)))
	require.NoError(t, s.Close())
	_, err := s.Append(ctxT(t), req("t1", "s", events.Exactly(1), ev("a.b", `{}`)))
	require.ErrorIs(t, err, events.ErrClosed)
	_, err = s.Load(ctxT(t), "t1", "s", 1)
	require.ErrorIs(t, err, events.ErrClosed)
	_, err = s.ReadAll(ctxT(t), "", events.ReadOptions{})
	require.ErrorIs(t, err, events.ErrClosed)
	_, err = s.ReadTenant(ctxT(t), "t1", "", events.ReadOptions{})
	require.ErrorIs(t, err, events.ErrClosed)
}

// tenantScope: in a context scoped to one tenant (events.WithTenantScope, set for
// a tenant's requests) every operation on another tenant, and ReadAll, fails with
// ErrOutOfScope and writes nothing; the tenant's own operations work.
func tenantScope(t *testing.T, s events.Store) {
	ctx := ctxT(t)
	mustAppend(t, s, req("t2", "s", events.NoStream, ev("x.created", `{}`)))
	scoped := events.WithTenantScope(ctx, "t1")
	_, err := s.Append(scoped, req("t1", "s", events.NoStream, ev("x.created", `{}`)))
	require.NoError(t, err, "the scope's own tenant")
	_, err = s.Load(scoped, "t1", "s", 1)
	require.NoError(t, err)
	_, err = s.ReadTenant(scoped, "t1", "", events.ReadOptions{})
	require.NoError(t, err)

	_, err = s.Append(scoped, req("t2", "s", events.Exactly(1), ev("x.changed", `{}`)))
	require.ErrorIs(t, err, events.ErrOutOfScope)
	_, err = s.Load(scoped, "t2", "s", 1)
	require.ErrorIs(t, err, events.ErrOutOfScope)
	_, err = s.ReadTenant(scoped, "t2", "", events.ReadOptions{})
	require.ErrorIs(t, err, events.ErrOutOfScope)
	_, err = s.ReadAll(scoped, "", events.ReadOptions{})
	require.ErrorIs(t, err, events.ErrOutOfScope)
	if kc, ok := s.(events.KeyClaimer); ok {
		_, err = kc.ClaimedKeys(scoped, "t2", []string{"k"})
		require.ErrorIs(t, err, events.ErrOutOfScope)
		_, err = kc.ClaimedKeys(scoped, "t1", []string{"k"})
		require.NoError(t, err)
	}
	if r, ok := s.(events.Replayer); ok {
		none := func(events.Event) error { return nil }
		_, err = r.Replay(scoped, events.ReplayOptions{Tenant: "t2"}, none)
		require.ErrorIs(t, err, events.ErrOutOfScope)
		_, err = r.Replay(scoped, events.ReplayOptions{}, none)
		require.ErrorIs(t, err, events.ErrOutOfScope, "replaying every tenant is platform work")
		_, err = r.Replay(scoped, events.ReplayOptions{Tenant: "t1"}, none)
		require.NoError(t, err)
	}
	evs, err := s.Load(ctx, "t2", "s", 1)
	require.NoError(t, err)
	assert.Len(t, evs, 1, "the refused append wrote nothing")
}

func idempotencyFingerprint(t *testing.T, s events.Store) {
	r := req("t1", "s", events.NoStream, ev("a.b", `{"n":1}`))
	r.IdempotencyKey, r.Fingerprint = "k", "request-A"
	first := mustAppend(t, s, r)
	require.False(t, first.Duplicate)

	tests := []struct {
		name    string
		mutate  func(r *events.AppendRequest)
		wantErr error
	}{
		{"same fingerprint: the first result", func(*events.AppendRequest) {}, nil},
		{"same fingerprint, stale expected version: the first result", func(r *events.AppendRequest) { r.Expected = events.Exactly(7) }, nil},
		{"another fingerprint", func(r *events.AppendRequest) { r.Fingerprint = "request-B" }, events.ErrIdempotencyKeyReuse},
		{"no fingerprint", func(r *events.AppendRequest) { r.Fingerprint = "" }, events.ErrIdempotencyKeyReuse},
		{"another stream, same fingerprint", func(r *events.AppendRequest) { r.Stream = "s2" }, events.ErrIdempotencyKeyReuse},
	}
	for _, tc := range tests {
		retry := r
		tc.mutate(&retry)
		res, err := s.Append(ctxT(t), retry)
		if tc.wantErr != nil {
			require.ErrorIs(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.True(t, res.Duplicate, tc.name)
		assert.Equal(t, normalize(first.Events), normalize(res.Events), tc.name)
	}
	got, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	assert.Equal(t, ids(first.Events), ids(got), "no retry wrote anything")
	_, err = s.Load(ctxT(t), "t1", "s2", 1)
	require.ErrorIs(t, err, events.ErrNotFound)
}

func idempotencyLookup(t *testing.T, s events.Store) {
	_, found, err := s.Idempotency(ctxT(t), "t1", "k")
	require.NoError(t, err)
	assert.False(t, found, "a key never used")

	r := req("t1", "s", events.NoStream, ev("a.b", `{"n":1}`), ev("a.c", `{"n":2}`))
	r.IdempotencyKey, r.Fingerprint = "k", "fp-1"
	first := mustAppend(t, s, r)
	mustAppend(t, s, req("t1", "s", events.Exactly(2), ev("a.d", `{}`)))

	rec, found, err := s.Idempotency(ctxT(t), "t1", "k")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, events.StreamID("s"), rec.Stream)
	assert.Equal(t, "fp-1", rec.Fingerprint)
	assert.True(t, rec.Result.Duplicate)
	assert.Equal(t, normalize(first.Events), normalize(rec.Result.Events), "the first append's events, not the stream's later ones")
	assert.False(t, rec.Created.IsZero())
	assert.True(t, rec.Matches("s", "fp-1"))
	assert.False(t, rec.Matches("s", "fp-2"))

	_, found, err = s.Idempotency(ctxT(t), "t2", "k")
	require.NoError(t, err)
	assert.False(t, found, "keys are scoped to the tenant")
	_, _, err = s.Idempotency(events.WithTenantScope(ctxT(t), "t2"), "t1", "k")
	require.Error(t, err, "a scoped context cannot read another tenant's keys")
	_, _, err = s.Idempotency(ctxT(t), "", "k")
	require.ErrorIs(t, err, events.ErrInvalid)
}

// concurrentFingerprints races appends with one key and two fingerprints: one
// writes, the retries of its request get its result, the others are refused.
func concurrentFingerprints(t *testing.T, s events.Store) {
	const n = 16
	results := make([]events.AppendResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := req("t1", "s", events.NoStream, ev("a.b", fmt.Sprintf(`{"i":%d}`, i)))
			r.IdempotencyKey, r.Fingerprint = "same", fmt.Sprintf("fp-%d", i%2)
			results[i], errs[i] = s.Append(ctxT(t), r)
		})
	}
	wg.Wait()
	writer := -1
	for i := range n {
		if errs[i] == nil && !results[i].Duplicate {
			require.Equal(t, -1, writer, "exactly one attempt writes")
			writer = i
		}
	}
	require.NotEqual(t, -1, writer, "one attempt writes")
	for i := range n {
		if i%2 == writer%2 {
			require.NoError(t, errs[i], "a retry of the winning request")
			assert.Equal(t, ids(results[writer].Events), ids(results[i].Events))
			continue
		}
		require.ErrorIs(t, errs[i], events.ErrIdempotencyKeyReuse, "the other request")
	}
	got, err := s.Load(ctxT(t), "t1", "s", 1)
	require.NoError(t, err)
	assert.Equal(t, ids(results[writer].Events), ids(got))
}

// idempotencyExpiry: a key is remembered for events.IdempotencyKeyTTL, then it is
// new again, for the same request or another.
func idempotencyExpiry(t *testing.T, s events.Store, clk *clock.Test) {
	r := req("t1", "s", events.NoStream, ev("a.b", `{"n":1}`))
	r.IdempotencyKey, r.Fingerprint = "k", "fp-1"
	first := mustAppend(t, s, r)

	require.NoError(t, clk.Set(clk.Now().Add(events.IdempotencyKeyTTL-time.Minute)))
	res, err := s.Append(ctxT(t), r)
	require.NoError(t, err)
	assert.True(t, res.Duplicate, "still remembered just before the TTL")
	_, found, err := s.Idempotency(ctxT(t), "t1", "k")
	require.NoError(t, err)
	assert.True(t, found)

	require.NoError(t, clk.Set(first.Events[0].RecordedAt.Add(events.IdempotencyKeyTTL+time.Second)))
	_, found, err = s.Idempotency(ctxT(t), "t1", "k")
	require.NoError(t, err)
	assert.False(t, found, "forgotten after the TTL")

	// An expired key is simply a new request: another fingerprint and stream too.
	again := req("t1", "s2", events.NoStream, ev("a.c", `{"n":2}`))
	again.IdempotencyKey, again.Fingerprint = "k", "fp-2"
	second := mustAppend(t, s, again)
	require.False(t, second.Duplicate)
	rec, found, err := s.Idempotency(ctxT(t), "t1", "k")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "fp-2", rec.Fingerprint)
	assert.Equal(t, ids(second.Events), ids(rec.Result.Events))
	res, err = s.Append(ctxT(t), again)
	require.NoError(t, err)
	assert.True(t, res.Duplicate, "the key now names the new request")
	_, err = s.Append(ctxT(t), r)
	require.ErrorIs(t, err, events.ErrIdempotencyKeyReuse, "and no longer the old one")
}
