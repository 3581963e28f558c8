package main

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

// mountTmpfs mounts a tmpfs of size (such as "16m") on a fresh directory until
// the test ends.
func mountTmpfs(t *testing.T, size string) (string, error) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		return "", err
	}
	t.Cleanup(func() { assert.NoError(t, syscall.Unmount(dir, 0)) })
	return dir, nil
}

// freeBytes is the space left to an unprivileged writer on dir's filesystem.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
