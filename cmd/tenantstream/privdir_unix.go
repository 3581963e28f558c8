//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// checkPrivateDir makes sure only uid can place or replace files in dir: it is
// a directory owned by uid and neither group- nor world-writable.
func checkPrivateDir(dir string, uid int) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("data directory %s is group- or world-writable (mode %04o): others could replace the operator socket; run chmod go-w %s", dir, st.Mode().Perm(), dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != uid {
		return fmt.Errorf("data directory %s belongs to uid %d, not to this process's uid %d", dir, sys.Uid, uid)
	}
	return nil
}

// ownedBy reports whether the file fi belongs to uid.
func ownedBy(fi os.FileInfo, uid int) bool {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == uid
}
