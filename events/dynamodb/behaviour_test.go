package dynamodb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
)

// offsetClock is a writer whose clock is off by d, as another Lambda's may be.
type offsetClock time.Duration

func (c offsetClock) Now() time.Time { return time.Now().UTC().Add(time.Duration(c)) }

func fakeStores(t *testing.T, opts ...[]dynamodb.Option) []*dynamodb.Store {
	t.Helper()
	client := newFakeDynamo()
	require.NoError(t, dynamodb.CreateTable(context.Background(), client, "events"))
	var out []*dynamodb.Store
	for _, o := range opts {
		out = append(out, dynamodb.New(client, "events", o...))
	}
	return out
}

func newEvents(n int, withIDs bool) []events.NewEvent {
	out := make([]events.NewEvent, n)
	for i := range out {
		out[i] = events.NewEvent{Type: "a.b", Data: []byte(`{}`)}
		if withIDs {
			out[i].ID = fmt.Sprintf("id-%d", i)
		}
	}
	return out
}

// One append is one transaction of at most 100 items: events, the idempotency
// record and the id records all count.
func TestTransactionCapacity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		events  int
		key     bool
		skipIDs bool
		ok      bool
	}{
		{"100 events", 100, false, false, true},
		{"99 events and a key", 99, true, false, true},
		{"100 events and a key", 100, true, false, false},
		{"50 events with ids", 50, false, true, true},
		{"51 events with ids", 51, false, true, false},
		{"49 events with ids and a key", 49, true, true, true},
		{"50 events with ids and a key", 50, true, true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeStores(t, nil)[0]
			req := events.AppendRequest{Tenant: "t1", Stream: events.StreamID(fmt.Sprintf("s%d", i)), Expected: events.NoStream,
				Events: newEvents(tt.events, tt.skipIDs), SkipDuplicateIDs: tt.skipIDs}
			if tt.key {
				req.IdempotencyKey = "k"
			}
			res, err := s.Append(context.Background(), req)
			if tt.ok {
				require.NoError(t, err)
				assert.Len(t, res.Events, tt.events)
				return
			}
			require.ErrorIs(t, err, events.ErrTooLarge)
			assert.Contains(t, err.Error(), "limit 100")
			_, err = s.Load(context.Background(), "t1", req.Stream, 1)
			require.ErrorIs(t, err, events.ErrNotFound)
		})
	}
}

// A writer whose clock is behind still stamps a stream's events in version order,
// so tenant history reads keep each stream's order.
func TestRecordedAtNeverDecreasesAlongAStream(t *testing.T) {
	t.Parallel()
	stores := fakeStores(t, []dynamodb.Option{dynamodb.WithClock(offsetClock(time.Hour))}, nil)
	ahead, behind := stores[0], stores[1]
	ctx := context.Background()
	appendOne := func(s *dynamodb.Store, exp events.ExpectedVersion) events.Event {
		res, err := s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: exp, Events: newEvents(1, false)})
		require.NoError(t, err)
		return res.Events[0]
	}
	e1 := appendOne(ahead, events.NoStream)
	e2 := appendOne(behind, events.Exactly(1)) // checked inside the transaction, then restamped
	e3 := appendOne(behind, events.AnyVersion) // stamped from the head it read
	assert.False(t, e2.RecordedAt.Before(e1.RecordedAt))
	assert.False(t, e3.RecordedAt.Before(e2.RecordedAt))

	page, err := behind.ReadTenant(ctx, "t1", "", events.ReadOptions{})
	require.NoError(t, err)
	require.Len(t, page.Events, 3)
	for i, e := range page.Events {
		assert.Equal(t, int64(i+1), e.Version)
	}
}

// An append stamped before a reader's position but committed (or indexed) after
// it is still delivered, once, if it lands within the settle window.
func TestLateEventsWithinTheSettleWindow(t *testing.T) {
	t.Parallel()
	stores := fakeStores(t, nil, []dynamodb.Option{dynamodb.WithClock(offsetClock(-2 * time.Second))})
	reader, late := stores[0], stores[1]
	ctx := context.Background()
	_, err := reader.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "a", Expected: events.NoStream, Events: newEvents(1, false)})
	require.NoError(t, err)

	for _, read := range []func(events.Cursor) (events.Page, error){
		func(c events.Cursor) (events.Page, error) {
			return reader.ReadTenant(ctx, "t1", c, events.ReadOptions{})
		},
		func(c events.Cursor) (events.Page, error) { return reader.ReadAll(ctx, c, events.ReadOptions{}) },
	} {
		p, err := read("")
		require.NoError(t, err)
		require.NotEmpty(t, p.Events)
		cur, newest := p.Next, p.Events[len(p.Events)-1]

		res, err := late.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: events.StreamID(fmt.Sprintf("b%d", time.Now().UnixNano())), Expected: events.NoStream, Events: newEvents(1, false)})
		require.NoError(t, err)
		require.True(t, res.Events[0].RecordedAt.Before(newest.RecordedAt), "the late event sorts before the reader's position")

		p, err = read(cur)
		require.NoError(t, err)
		require.Len(t, p.Events, 1, "the late event is delivered")
		assert.Equal(t, res.Events[0].ID, p.Events[0].ID)
		p, err = read(p.Next)
		require.NoError(t, err)
		assert.Empty(t, p.Events, "and only once")
	}
}

// TestKeyedAppendCosts counts the requests a keyed append costs, first and
// retried: the store looks the key up (one strongly consistent GetItem) before
// it writes, and a retry costs that read and the read of the first result.
func TestKeyedAppendCosts(t *testing.T) {
	t.Parallel()
	s := newScopedStore(t)
	ctx := context.Background()
	req := events.AppendRequest{Tenant: "t1", Stream: "s1", Expected: events.NoStream, IdempotencyKey: "k", Fingerprint: "fp", Events: newEvents(1, false)}
	_, err := s.store.Append(ctx, req) // registers the tenant: one PutItem, not counted below
	require.NoError(t, err)

	req.Stream, req.IdempotencyKey = "s2", "k2"
	before := s.base.calls.Load()
	res, err := s.store.Append(ctx, req)
	require.NoError(t, err)
	require.False(t, res.Duplicate)
	assert.Equal(t, int64(2), s.base.calls.Load()-before, "a first keyed append: the key's GetItem and one TransactWriteItems")

	before = s.base.calls.Load()
	res, err = s.store.Append(ctx, req)
	require.NoError(t, err)
	require.True(t, res.Duplicate)
	assert.Equal(t, int64(2), s.base.calls.Load()-before, "a retry: the key's GetItem and one Query for the first result, no write")

	before = s.base.calls.Load()
	_, found, err := s.store.Idempotency(ctx, "t1", "k2")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, int64(2), s.base.calls.Load()-before, "a lookup: GetItem and Query")
}
