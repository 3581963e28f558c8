package main

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/tenantstream/tenantstream/domain/clock"
	evsqlite "github.com/tenantstream/tenantstream/events/sqlite"
	rmsqlite "github.com/tenantstream/tenantstream/projections/sqlite"
)

// localStores are a data directory's SQLite event store and read models, which
// the local server and the CLI hand to wire.Open (wire takes them opened: the
// Lambda binaries it also builds are linked without cgo, which SQLite needs).
type localStores struct {
	Events     *evsqlite.Store
	ReadModels *rmsqlite.Backend
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
	opts := []evsqlite.Option{evsqlite.WithClock(clk)}
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
