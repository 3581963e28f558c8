//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found by review: under the usual umask (022) the data directory is created 0755 and
// the SQLite stores in it (events.db, readmodels.db and their -wal/-shm files)
// are created 0644, so every local user can read the whole event store and
// read models: every tenant's items and usage, users' emails and argon2
// password hashes (tenant.user_added), invoices, webhook payloads. The rest of
// this session's files are owner-only (cursor-key, jwt-signing-key.pem,
// issuer, deliveries.jsonl 0600, operator.sock 0600 with a peer-uid check),
// and the operator socket's whole design assumes only the directory's owner
// can get at the platform; the stores, which hold more than the socket can
// reach, are open to anyone on the machine. Expected: the stores (and the
// directory) are not group- or world-readable.
func TestDataDirStoresAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	srv := startServer(t, "", Config{})

	for _, name := range []string{"events.db", "events.db-wal", "readmodels.db", "readmodels.db-wal"} {
		fi, err := os.Stat(filepath.Join(srv.Data, name))
		require.NoError(t, err)
		assert.Zero(t, fi.Mode().Perm()&0o077, "%s is mode %04o: readable by other local users", name, fi.Mode().Perm())
	}
	for _, name := range []string{"jwt-signing-key.pem", "cursor-key", "issuer"} {
		fi, err := os.Stat(filepath.Join(srv.Data, name))
		require.NoError(t, err)
		assert.Zero(t, fi.Mode().Perm()&0o077, "%s is owner-only, as the stores should be", name)
	}
}
