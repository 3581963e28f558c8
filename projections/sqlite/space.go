package sqlite

import evsqlite "github.com/tenantstream/tenantstream/events/sqlite"

// noSpace marks err as events.ErrStorageFull when SQLite or the OS says there is no
// room, as for the event store: the engine then retries the batch instead of
// parking its events (docs/ARCHITECTURE.md, "Running out of room").
func noSpace(err error) error { return evsqlite.NoSpace(err) }
