package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
	"github.com/tenantstream/tenantstream/projections/sqlite"
)

func open(t *testing.T) *sqlite.Backend {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "readmodels.db"))
}

func openAt(t *testing.T, path string) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(context.Background(), path)
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

// TestBackgroundCheckpoint shows committed pages reaching the database file while
// the backend stays open: automatic checkpoints are off on the writer, so only the
// background checkpointer can have copied them out of the WAL.
func TestBackgroundCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "readmodels.db")
	b, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	st, err := os.Stat(path)
	require.NoError(t, err)
	before := st.Size()
	value := bytes.Repeat([]byte("x"), 1024)
	for i := range 4 {
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		rm := tx.ReadModel("p", 1)
		for j := range 100 {
			require.NoError(t, rm.Put(ctx, "t1", "c", fmt.Sprintf("k%d-%d", i, j), value))
		}
		require.NoError(t, tx.Commit())
	}
	require.Eventually(t, func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() >= before+400*1024
	}, 5*time.Second, 10*time.Millisecond, "the WAL is checkpointed into the database file")
	v, err := b.Get(ctx, "p", "t1", "c", "k3-99")
	require.NoError(t, err)
	require.Equal(t, value, v)
}

// TestManyWritesAndCheckpoints writes more values and checkpoints in one
// transaction than any one multi-row statement holds, and reads them back from a
// second Backend on the file (no cache of the first).
func TestManyWritesAndCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "readmodels.db")
	b, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	for _, n := range []int{1, 2, 9, 75, 150} {
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		rm := tx.ReadModel("p", 1)
		bp, ok := rm.(projections.BatchPutter)
		require.True(t, ok, "the SQLite read model takes batches")
		var puts []projections.DumpEntry
		for i := range n {
			puts = append(puts, projections.DumpEntry{Tenant: "t", Collection: fmt.Sprintf("c%d", n), Key: fmt.Sprintf("k%03d", i), Value: []byte(fmt.Sprint(i))})
			require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t", events.StreamID(fmt.Sprintf("s%d-%d", n, i)), int64(i+1)))
		}
		require.NoError(t, bp.PutMany(ctx, puts))
		puts[0].Value = []byte("again") // an upsert of a written key
		require.NoError(t, bp.PutMany(ctx, puts[:1]))
		require.NoError(t, tx.Commit())
	}
	require.NoError(t, b.Close())

	b = openAt(t, path)
	tx, err := b.Begin(ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback()) }()
	for _, n := range []int{1, 2, 9, 75, 150} {
		got, err := b.List(ctx, "p", "t", fmt.Sprintf("c%d", n), "", 1000)
		require.NoError(t, err)
		require.Len(t, got, n)
		require.Equal(t, "again", string(got[0].Value))
		for i := 1; i < n; i++ {
			require.Equal(t, fmt.Sprint(i), string(got[i].Value))
		}
		for i := range n {
			cp, err := tx.Checkpoint(ctx, "p", 1, "t", events.StreamID(fmt.Sprintf("s%d-%d", n, i)))
			require.NoError(t, err)
			require.Equal(t, int64(i+1), cp)
		}
	}
}

// TestConcurrentTransactionsSeeEachOthersCheckpoints: transactions from several
// goroutines each read a checkpoint and move it on by one. Serialized
// transactions that always see the last commit (never a stale cached value) end
// at the number of transactions, in the cache and in the file.
func TestConcurrentTransactionsSeeEachOthersCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "readmodels.db")
	b, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	const workers, each = 4, 100
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				tx, err := b.Begin(ctx)
				if !assert.NoError(t, err) {
					return
				}
				cp, err := tx.Checkpoint(ctx, "p", 1, "t", "s")
				assert.NoError(t, err)
				assert.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t", "s", cp+1))
				assert.NoError(t, tx.Commit())
			}
		})
	}
	wg.Wait()
	read := func(b *sqlite.Backend) int64 {
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		defer func() { require.NoError(t, tx.Rollback()) }()
		cp, err := tx.Checkpoint(ctx, "p", 1, "t", "s")
		require.NoError(t, err)
		return cp
	}
	assert.Equal(t, int64(workers*each), read(b), "through the cache")
	require.NoError(t, b.Close())
	assert.Equal(t, int64(workers*each), read(openAt(t, path)), "in the file")
}
