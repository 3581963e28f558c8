package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/shred"
	evsqlite "github.com/tenantstream/tenantstream/events/sqlite"
	rmsqlite "github.com/tenantstream/tenantstream/projections/sqlite"
)

// localStores are a data directory's SQLite event store and read models, which
// the local server and the CLI hand to wire.Open (wire takes them opened: the
// Lambda binaries it also builds are linked without cgo, which SQLite needs).
type localStores struct {
	Events     *evsqlite.Store
	ReadModels *rmsqlite.Backend
	// Keys are the tenants' data keys (data/keys), which wire seals events
	// with (docs/ARCHITECTURE.md, decision 19).
	Keys *shred.FileKeyring
}

// openLocal opens the stores of dir. readOnly opens them next to a running
// server (SQLite's WAL lets readers in while the server writes): no stream
// cache and no window of recent events, since another process may be
// appending and both would hide its appends.
func openLocal(ctx context.Context, dir string, clk clock.Clock, readOnly bool) (_ localStores, err error) {
	var s localStores
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if !readOnly {
		if err := ownerOnlyStores(dir); err != nil {
			return s, err
		}
	}
	if s.Keys, err = shred.OpenFileKeyring(filepath.Join(dir, shred.KeysDir)); err != nil {
		return s, err
	}
	// Sealed data is larger than its plaintext; the sealing layer checks
	// the plaintext against the usual limits (decision 11).
	opts := []evsqlite.Option{evsqlite.WithClock(clk), evsqlite.WithLimits(shred.SealedLimits(events.DefaultLimits))}
	if readOnly {
		opts = append(opts, evsqlite.WithCacheEvents(0), evsqlite.WithRecentEvents(0))
	}
	if s.Events, err = evsqlite.Open(filepath.Join(dir, "events.db"), opts...); err != nil {
		return s, err
	}
	if s.ReadModels, err = rmsqlite.Open(ctx, filepath.Join(dir, "readmodels.db")); err != nil {
		return s, err
	}
	return s, nil
}

// Close closes the read models, then the store.
func (s localStores) Close() error {
	var errs []error
	if s.ReadModels != nil {
		errs = append(errs, s.ReadModels.Close())
	}
	if s.Events != nil {
		errs = append(errs, s.Events.Close())
	}
	return errors.Join(errs...)
}

// storeFiles are the SQLite files of a data directory; SQLite gives a
// database's -wal and -shm files the database file's own mode.
var storeFiles = []string{"events.db", "readmodels.db"}

// ownerOnlyStores makes the stores readable by the directory's owner only:
// they hold every tenant's data and users' password hashes. A new store file
// is created 0600 before SQLite opens it (an empty file is a new database);
// an existing one readable by others is narrowed, with its -wal and -shm.
func ownerOnlyStores(dir string) error {
	for _, name := range storeFiles {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		f.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := narrowToOwner(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// narrowToOwner makes an existing file readable by its owner only (0600) if
// others may read it; a missing file is left missing.
func narrowToOwner(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("make %s owner-only: %w", filepath.Base(path), err)
	}
	return nil
}
