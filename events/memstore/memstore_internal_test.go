package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

func appendN(t *testing.T, s *Store, tenant events.TenantID, stream events.StreamID, n int) events.AppendResult {
	t.Helper()
	req := events.AppendRequest{Tenant: tenant, Stream: stream, StreamType: "thing", Expected: events.AnyVersion}
	for i := range n {
		req.Events = append(req.Events, events.NewEvent{Type: "thing.happened", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
	}
	res, err := s.Append(context.Background(), req)
	require.NoError(t, err)
	return res
}

func TestAppendLoadAndErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	res := appendN(t, s, "t1", "s1", 3)
	require.Len(t, res.Events, 3)
	assert.Equal(t, []int64{1, 2, 3}, []int64{res.Events[0].Position, res.Events[1].Position, res.Events[2].Position})

	tests := []struct {
		name string
		req  events.AppendRequest
		want error
	}{
		{"conflict", events.AppendRequest{Tenant: "t1", Stream: "s1", Expected: events.NoStream, Events: []events.NewEvent{{Type: "x", Data: json.RawMessage(`{}`)}}}, events.ErrConcurrency},
		{"invalid", events.AppendRequest{Tenant: "t#1", Stream: "s1", Expected: events.AnyVersion, Events: []events.NewEvent{{Type: "x", Data: json.RawMessage(`{}`)}}}, events.ErrInvalid},
		{"exact ok", events.AppendRequest{Tenant: "t1", Stream: "s1", Expected: events.Exactly(3), Events: []events.NewEvent{{Type: "x", Data: json.RawMessage(`{}`)}}}, nil},
	}
	for _, tc := range tests {
		_, err := s.Append(ctx, tc.req)
		if tc.want == nil {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, tc.want, tc.name)
		}
	}
	evs, err := s.Load(ctx, "t1", "s1", 3)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, int64(3), evs[0].Version)
	_, err = s.Load(ctx, "t1", "nope", 1)
	require.ErrorIs(t, err, events.ErrNotFound)
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	req := events.AppendRequest{Tenant: "t1", Stream: "s1", Expected: events.AnyVersion, IdempotencyKey: "k", Events: []events.NewEvent{{Type: "x", Data: json.RawMessage(`{}`)}}}
	first, err := s.Append(ctx, req)
	require.NoError(t, err)
	again, err := s.Append(ctx, req)
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, first.Events, again.Events)
	req.Stream = "s2"
	_, err = s.Append(ctx, req)
	require.ErrorIs(t, err, events.ErrIdempotencyKeyReuse)
}

func TestReadPagingCursorsAndTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	appendN(t, s, "a", "s1", 5)
	appendN(t, s, "b", "s1", 5)
	appendN(t, s, "a", "s2", 5)

	var got []events.Event
	var cur events.Cursor
	for {
		page, err := s.ReadTenant(ctx, "a", cur, events.ReadOptions{Limit: 3})
		require.NoError(t, err)
		got = append(got, page.Events...)
		cur = page.Next
		if !page.More {
			break
		}
	}
	require.Len(t, got, 10)
	for _, ev := range got {
		assert.Equal(t, events.TenantID("a"), ev.TenantID)
	}
	page, err := s.ReadAll(ctx, cur, events.ReadOptions{})
	require.NoError(t, err)
	assert.Empty(t, page.Events, "cursor at a tenant's end is past every event of the store")
	assert.Equal(t, cur, page.Next)

	page, err = s.ReadAll(ctx, "", events.ReadOptions{Types: []string{"none"}})
	require.NoError(t, err)
	assert.Empty(t, page.Events)
	assert.Equal(t, FormatCursor(15), page.Next, "the cursor advances past filtered events")

	_, err = s.ReadAll(ctx, "sqlite:12", events.ReadOptions{})
	require.ErrorIs(t, err, events.ErrInvalidCursor)
}

func TestNotifierAndConcurrentAppends(t *testing.T) {
	t.Parallel()
	s := New()
	ch, cancel := s.Subscribe()
	defer cancel()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				appendN(t, s, "t", events.StreamID(fmt.Sprintf("s%d", i)), 1)
			}
		})
	}
	wg.Wait()
	select {
	case <-ch:
	default:
		t.Fatal("no wake-up after appends")
	}
	head, err := s.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(160), head)
	require.NoError(t, s.Close())
	_, err = s.ReadAll(context.Background(), "", events.ReadOptions{})
	require.ErrorIs(t, err, events.ErrClosed)
}

func FuzzParseCursor(f *testing.F) {
	for _, seed := range []string{"", "mem:0", "mem:12", "mem:-1", "mem:01", "sqlite:3", "mem:"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCursor(events.Cursor(s))
		if err != nil {
			require.ErrorIs(t, err, events.ErrInvalidCursor)
			return
		}
		if s != "" {
			require.Equal(t, events.Cursor(s), FormatCursor(p))
		}
	})
}
