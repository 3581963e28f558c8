package cursorseal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeyFile is the local cursor key's file name inside the data directory, and
// PreviousKeyFile the key rotated out of it, which still opens old cursors.
const (
	KeyFile         = "cursor-key"
	PreviousKeyFile = KeyFile + ".previous"
)

// LoadOrCreate returns the sealer of the data directory: it seals with
// dir/KeyFile, created (mode 0600) with fresh material on first start so
// cursors stay valid across restarts, and also opens with dir/PreviousKeyFile
// when present. To rotate, stop the server and rename KeyFile to
// PreviousKeyFile; the next start makes a new key.
func LoadOrCreate(dir string) (*Sealer, error) {
	cur, err := loadKey(filepath.Join(dir, KeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		cur, err = createKey(dir)
	}
	if err != nil {
		return nil, err
	}
	prev, err := loadKey(filepath.Join(dir, PreviousKeyFile))
	switch {
	case err == nil:
		return New(cur, prev), nil
	case errors.Is(err, fs.ErrNotExist):
		return New(cur), nil
	}
	return nil, err
}

func loadKey(path string) (Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Key{}, fmt.Errorf("load cursor key: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("load cursor key %s: mode %v lets others read it; chmod 600 it", filepath.Base(path), fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("load cursor key: %w", err)
	}
	k, err := NewKey(strings.TrimSpace(string(b)))
	if err != nil {
		return Key{}, fmt.Errorf("load cursor key %s: %w", filepath.Base(path), err)
	}
	return k, nil
}

// createKey writes fresh material to dir/KeyFile as identity.LoadOrCreateSigningKey
// writes the JWT key: a synced 0600 temporary file hard-linked into place, so
// two processes starting at once agree on one key.
func createKey(dir string) (Key, error) {
	path := filepath.Join(dir, KeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, fmt.Errorf("create cursor key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, KeyFile+".tmp-*")
	if err != nil {
		return Key{}, fmt.Errorf("create cursor key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return Key{}, fmt.Errorf("create cursor key: %w", err)
	}
	if _, err := tmp.WriteString(NewMaterial() + "\n"); err != nil {
		tmp.Close()
		return Key{}, fmt.Errorf("create cursor key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Key{}, fmt.Errorf("create cursor key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Key{}, fmt.Errorf("create cursor key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return Key{}, fmt.Errorf("create cursor key: %w", err)
	}
	return loadKey(path)
}
