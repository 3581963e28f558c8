package dynamodb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
)

// TestLoadPastTheEndIsOneQuery: a cache that holds a stream up to its last
// version (the roster, the price book) asks for the events after it on every
// use; that read must cost one Query, not a second one for the stream's head.
func TestLoadPastTheEndIsOneQuery(t *testing.T) {
	ctx := context.Background()
	fake := newFakeDynamo()
	require.NoError(t, dynamodb.CreateTable(ctx, fake, "events"))
	c := &countingClient{inner: fake}
	s := dynamodb.New(c, "events")
	const tenant events.TenantID = "t1"
	_, err := s.Append(ctx, events.AppendRequest{Tenant: tenant, Stream: "s1", Expected: events.NoStream, Events: newEvents(3, false)})
	require.NoError(t, err)

	cases := []struct {
		name     string
		stream   events.StreamID
		from     int64
		versions []int64
		notFound bool
		queries  int64
	}{
		{name: "the events after the last one", stream: "s1", from: 4, queries: 1},
		{name: "the last event", stream: "s1", from: 3, versions: []int64{3}, queries: 1},
		{name: "from the start", stream: "s1", from: 1, versions: []int64{1, 2, 3}, queries: 1},
		{name: "from zero", stream: "s1", from: 0, versions: []int64{1, 2, 3}, queries: 1},
		{name: "far past the end", stream: "s1", from: 10, queries: 2},
		{name: "a stream that does not exist", stream: "none", from: 1, notFound: true, queries: 1},
		{name: "a stream that does not exist, past its start", stream: "none", from: 5, notFound: true, queries: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.reads.Load()
			evs, err := s.Load(ctx, tenant, tc.stream, tc.from)
			assert.Equal(t, tc.queries, c.reads.Load()-before, "queries")
			if tc.notFound {
				require.ErrorIs(t, err, events.ErrNotFound)
				return
			}
			require.NoError(t, err)
			var got []int64
			for _, e := range evs {
				got = append(got, e.Version)
			}
			assert.Equal(t, tc.versions, got)
		})
	}
}
