package dynamodb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
)

// TestSingleEventAppendIsOnePutItem counts the requests of each append shape
// (docs/aws.md, "Append"): one event with nothing else to write is one
// conditional PutItem (1 WCU a KB instead of a transaction's 2), checked by a
// read beforehand only when the Store has not seen the expected head stored;
// an idempotency key, event-id records or claims keep the transaction, and a
// transaction whose head the Store has seen needs no ConditionCheck.
func TestSingleEventAppendIsOnePutItem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeDynamo()
	require.NoError(t, dynamodb.CreateTable(ctx, fake, "events"))
	c := &countingClient{inner: fake}
	s := dynamodb.New(c, "events")
	one := func(typ string) []events.NewEvent { return []events.NewEvent{{Type: typ, Data: []byte(`{}`)}} }
	_, err := s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "warm", Expected: events.NoStream, Events: one("x.a")})
	require.NoError(t, err) // registers the tenant (one PutItem more)

	type counts struct{ reads, puts, txs, txItems int64 }
	measure := func(run func()) counts {
		r, w, x, i := c.reads.Load(), c.writes.Load(), c.txs.Load(), c.txItems.Load()
		run()
		return counts{c.reads.Load() - r, c.writes.Load() - w, c.txs.Load() - x, c.txItems.Load() - i}
	}
	appendOK := func(r events.AppendRequest) func() {
		return func() {
			_, err := s.Append(ctx, r)
			require.NoError(t, err)
		}
	}
	steps := []struct {
		name string
		run  func()
		want counts
	}{
		{"a new stream (no stream)", appendOK(events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.NoStream, Events: one("x.a")}),
			counts{puts: 1}},
		{"exact at the head this Store wrote", appendOK(events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.Exactly(1), Events: one("x.a")}),
			counts{puts: 1}},
		{"load, then exact at the head it read", func() {
			_, err := s.Load(ctx, "t1", "warm", 1)
			require.NoError(t, err)
			appendOK(events.AppendRequest{Tenant: "t1", Stream: "warm", Expected: events.Exactly(1), Events: one("x.a")})()
		}, counts{reads: 1, puts: 1}},
		{"any version: the head, then the put", appendOK(events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.AnyVersion, Events: one("x.a")}),
			counts{reads: 1, puts: 1}},
		{"two events at a known head: a transaction without a head check", appendOK(events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.Exactly(3), Events: append(one("x.a"), one("x.b")...)}),
			counts{txs: 1, txItems: 2}},
		{"one event with an idempotency key: a transaction", appendOK(events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.Exactly(5), Events: one("x.a"), IdempotencyKey: "k1", Fingerprint: "f"}),
			counts{reads: 1, txs: 1, txItems: 2}}, // the key's record is read first
		{"one event with SkipDuplicateIDs: a transaction", appendOK(events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.AnyVersion, Events: []events.NewEvent{{ID: "0195a3c2-0000-7000-8000-000000000001", Type: "x.a", Data: []byte(`{}`)}}, SkipDuplicateIDs: true}),
			counts{reads: 1, txs: 1, txItems: 2}},
		{"one event with a claim: a transaction", appendOK(events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.AnyVersion, Events: one("x.a"), ClaimKeys: []string{"c1"}}),
			counts{reads: 1, txs: 1, txItems: 2}},
	}
	for _, st := range steps {
		assert.Equal(t, st.want, measure(st.run), st.name)
	}

	// Another process's Store on the same table has seen no head: it reads
	// the expected head once, then puts; a stale expectation still conflicts.
	other := &countingClient{inner: fake}
	s2 := dynamodb.New(other, "events")
	_, err = s2.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.Exactly(8), Events: one("x.a")})
	require.NoError(t, err)
	assert.Equal(t, int64(1), other.reads.Load(), "the expected head is read (it exists for good once it does)")
	assert.Equal(t, int64(0), other.txs.Load())

	// The first Store remembers version 8 as the head; version 9 is s2's. Its
	// put at 9 fails on the event's own condition: ErrConcurrency, nothing written.
	_, err = s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.Exactly(8), Events: one("x.lost")})
	require.ErrorIs(t, err, events.ErrConcurrency)
	// Exactly(9) is past what it remembers: it reads item 9 and appends 10.
	res, err := s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.Exactly(9), Events: one("x.won")})
	require.NoError(t, err)
	assert.Equal(t, int64(10), res.Events[0].Version)
	// A future version conflicts whoever asks, and leaves no hole.
	_, err = s2.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.Exactly(12), Events: one("x.hole")})
	require.ErrorIs(t, err, events.ErrConcurrency)
	got, err := s.Load(ctx, "t1", "s", 1)
	require.NoError(t, err)
	require.Len(t, got, 10)
	for i, e := range got {
		require.Equal(t, int64(i+1), e.Version)
		require.NotEqual(t, "x.lost", e.Type)
		require.NotEqual(t, "x.hole", e.Type)
	}
}
