package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
	"github.com/tenantstream/tenantstream/projections/sqlite"
)

func open(t *testing.T) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "readmodels.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func TestBackendContract(t *testing.T) {
	t.Parallel()
	projectiontest.RunBackend(t, func(t *testing.T) projections.Backend { return open(t) })
}

func TestFeedCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := open(t)
	c, err := b.LoadCursor(ctx, "feed")
	require.NoError(t, err)
	require.Empty(t, c)
	require.NoError(t, b.SaveCursor(ctx, "feed", "x:1"))
	require.NoError(t, b.SaveCursor(ctx, "feed", "x:2"))
	c, err = b.LoadCursor(ctx, "feed")
	require.NoError(t, err)
	require.Equal(t, "x:2", string(c))
}
