package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/projections/sqlite"
)

// Deleted read-model rows stay in the file's free pages and in the WAL until
// Scrub; after it, neither holds them.
func TestScrubLeavesNoDeletedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "readmodels.db")
	b, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer b.Close()
	marker := "scrubmarkerQ9Z"
	write := func(put bool) {
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		rm := tx.ReadModel("items", 1)
		for i := range 200 {
			key := fmt.Sprintf("k%03d", i)
			if put {
				require.NoError(t, rm.Put(ctx, "t1", "items", key, []byte(`{"v":"`+marker+strings.Repeat("x", 900)+`"}`)))
			} else {
				require.NoError(t, rm.Delete(ctx, "t1", "items", key))
			}
		}
		require.NoError(t, tx.Commit())
	}
	write(true)
	write(false)
	holds := func() bool {
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			f, err := os.ReadFile(p)
			if err == nil && bytes.Contains(f, []byte(marker)) {
				return true
			}
		}
		return false
	}
	assert.True(t, holds(), "deleted rows are still in the files before a scrub")
	require.NoError(t, b.Scrub(ctx))
	assert.False(t, holds(), "a scrub leaves no deleted row")
}
