package sqlite

import (
	"context"
	"fmt"
)

// Scrub rewrites the database file without the space deleted rows left
// (VACUUM) and empties the write-ahead log (a TRUNCATE checkpoint), so no
// removed read-model value survives in the file, its free pages or the WAL:
// an erasure rebuilds the erased tenant's read models and then scrubs
// (docs/ARCHITECTURE.md, decision 19). It blocks writes meanwhile and fails
// if a reader keeps the log from being emptied.
func (b *Backend) Scrub(ctx context.Context) error {
	b.txMu.Lock()
	defer b.txMu.Unlock()
	if _, err := b.w.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("scrub read models: vacuum: %w", err)
	}
	var busy, logFrames, done int
	if err := b.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("scrub read models: checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("scrub read models: a reader kept the write-ahead log from being emptied; retry with the server stopped")
	}
	return nil
}
