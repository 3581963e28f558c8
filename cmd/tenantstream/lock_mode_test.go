//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found by review: the data-directory lock (data/LOCK) is created 0644 in a 0755
// directory and taken with flock(2), which needs no write access: any local
// user can open LOCK read-only and hold LOCK_EX on it. While they do, `serve`
// refuses to start ("in use by another tenantstream process (stop the server
// first)"), every operator command that opens the directory fails the same
// way, and billing close / projections rebuild (sendToServer) believe a
// server holds the directory, wait serverStartWait and then blame "a
// tenantstream server that does not answer on operator.sock". One
// unprivileged `flock -x data/LOCK sleep inf` during a restart keeps the
// platform down. The operator socket was made owner-only so other users
// cannot drive the platform; the lock next to it lets them stop it.
// Expected: a user who is not the directory's owner cannot hold its lock.
func TestNoOtherLocalUserCanHoldTheDataDirLock(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	f, err := lockDataDir(data) // a server ran and stopped
	require.NoError(t, err)
	require.NoError(t, f.Close())
	lock := filepath.Join(data, "LOCK")
	fi, err := os.Stat(lock)
	require.NoError(t, err)
	t.Logf("LOCK is %04o in a %04o directory", fi.Mode().Perm(), mustMode(t, data))

	assert.Zero(t, fi.Mode().Perm()&0o077, "LOCK is owner-only")
	assert.Zero(t, mustMode(t, data)&0o077, "a new data directory is owner-only")

	flockBin, lookErr := exec.LookPath("flock")
	if os.Getuid() == 0 && lookErr == nil {
		// Another user for real: nobody tries to take the lock.
		for d := data; d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() && d != data {
				require.NoError(t, os.Chmod(d, fi.Mode().Perm()|0o005))
			}
		}
		cmd := exec.Command(flockBin, "-x", "-n", lock, "sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		assert.Error(t, err, "uid 65534 could not even open LOCK: %s", out)
	}
	assert.False(t, dataDirLocked(data), "no one else holds the lock")

	f, err = lockDataDir(data) // serve, or any operator command
	if err == nil {
		f.Close()
	}
	assert.NoError(t, err, "the owner's server starts")

	// A directory made by an older version (0644 LOCK) is narrowed on open.
	require.NoError(t, os.Chmod(lock, 0o644))
	f, err = lockDataDir(data)
	require.NoError(t, err)
	f.Close()
	assert.Zero(t, mustMode(t, lock)&0o077, "an old LOCK is made owner-only")
}

func mustMode(t *testing.T, p string) os.FileMode {
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Mode().Perm()
}
