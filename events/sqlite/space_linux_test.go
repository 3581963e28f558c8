package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

// TestDiskFullOnTmpfs runs the store on a filesystem that really fills up, a tmpfs
// of 2 MiB: the failure comes from the OS (ENOSPC while the COMMIT writes the WAL),
// not from SQLite's page cap, and space comes back by deleting another file.
// Mounting needs privileges CI may not have; then the test says so and skips, and
// TestStorageFullFailsWholeBatchesAndRecovers covers the same code through
// max_page_count.
func TestDiskFullOnTmpfs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); TestStorageFullFailsWholeBatchesAndRecovers covers disk-full with max_page_count", err)
	}
	t.Cleanup(func() {
		// A file closed a moment ago may still be busy on a loaded machine
		// (seen once in a full run): retry, then detach lazily.
		err := syscall.Unmount(dir, 0)
		for i := 0; err == syscall.EBUSY && i < 50; i++ {
			time.Sleep(20 * time.Millisecond)
			err = syscall.Unmount(dir, 0)
		}
		if err == syscall.EBUSY {
			err = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		assert.NoError(t, err)
	})
	filler := filepath.Join(dir, "filler")
	require.NoError(t, os.WriteFile(filler, make([]byte, 1<<20), 0o644))

	path := filepath.Join(dir, "events.db")
	s, err := Open(path)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	acked, err := fillUntilFull(t, s, "fill")
	require.ErrorIs(t, err, events.ErrStorageFull)
	require.ErrorContains(t, err, "commit", "the disk ran out while the commit wrote the WAL")
	require.NotEmpty(t, acked)
	require.ErrorIs(t, s.Writable(ctx), events.ErrStorageFull)
	requireAll(t, s, acked)
	time.Sleep(probeEvery)
	require.ErrorIs(t, s.Writable(ctx), events.ErrStorageFull, "the probe finds the disk still full")

	require.NoError(t, os.Remove(filler))
	require.Eventually(t, func() bool { return s.Writable(ctx) == nil }, 10*time.Second, 50*time.Millisecond)
	for range 5 {
		res, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: "after", Expected: events.AnyVersion, Events: []events.NewEvent{bigEvent("after")}})
		require.NoError(t, err)
		acked = append(acked, res.Events...)
	}
	requireAll(t, s, acked)

	require.NoError(t, s.Close())
	r, err := Open(path)
	require.NoError(t, err)
	defer r.Close()
	requireAll(t, r, acked)
}
