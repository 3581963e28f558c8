package sqlite

import (
	"errors"
	"fmt"
	"syscall"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/tenantstream/tenantstream/events"
)

// noSpace marks err as events.ErrStorageFull when SQLite or the OS says there is no
// room (SQLITE_FULL, or an I/O error with ENOSPC), as events/sqlite does for the
// event store: the engine then retries the batch instead of parking its events
// (docs/ARCHITECTURE.md, "Running out of room").
func noSpace(err error) error {
	if err == nil || errors.Is(err, events.ErrStorageFull) {
		return err
	}
	var se sqlite3.Error
	full := errors.Is(err, syscall.ENOSPC)
	if errors.As(err, &se) {
		full = full || se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC
	}
	if full {
		return fmt.Errorf("%w: %w", events.ErrStorageFull, err)
	}
	return err
}
