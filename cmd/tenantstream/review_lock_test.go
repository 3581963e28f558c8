//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FINDING: the data-directory lock (data/LOCK) is created 0644 in a 0755
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
func TestFindingAnyLocalUserCanHoldTheDataDirLock(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	f, err := lockDataDir(data) // a server ran and stopped
	require.NoError(t, err)
	require.NoError(t, f.Close())
	lock := filepath.Join(data, "LOCK")
	fi, err := os.Stat(lock)
	require.NoError(t, err)
	t.Logf("LOCK is %04o in a %04o directory", fi.Mode().Perm(), mustMode(t, data))

	flockBin, lookErr := exec.LookPath("flock")
	if os.Getuid() == 0 && lookErr == nil {
		// Another user for real: nobody, who may only read LOCK.
		for d := data; d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() {
				require.NoError(t, os.Chmod(d, fi.Mode().Perm()|0o005))
			}
		}
		cmd := exec.Command(flockBin, "-x", "-n", lock, "sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(5 * time.Second)
		for !dataDirLocked(data) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		require.True(t, dataDirLocked(data), "uid 65534 took the lock")
	} else {
		// The same with a read-only descriptor, which is all 0644 gives others.
		ro, err := os.Open(lock)
		require.NoError(t, err)
		defer ro.Close()
		require.NoError(t, syscall.Flock(int(ro.Fd()), syscall.LOCK_EX|syscall.LOCK_NB), "a read-only descriptor takes the exclusive lock")
	}

	f, err = lockDataDir(data) // serve, or any operator command
	if err == nil {
		f.Close()
	}
	assert.NoError(t, err, "a user who may only read LOCK keeps the owner's server from starting")
}

func mustMode(t *testing.T, p string) os.FileMode {
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Mode().Perm()
}
