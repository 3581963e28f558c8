package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/sqlite"
)

func TestHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	h, err := s.Head(ctx)
	require.NoError(t, err)
	require.Zero(t, h, "an empty store's head")
	var last int64
	for i := range 3 {
		res, err := s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "n.added", Data: []byte(`{}`)}, {Type: "n.added", Data: []byte(`{}`)}}})
		require.NoError(t, err, "append %d", i)
		last = res.Events[len(res.Events)-1].Position
	}
	h, err = s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, last, h)
	require.NoError(t, s.Close())
	_, err = s.Head(ctx)
	require.ErrorIs(t, err, events.ErrClosed)
}
