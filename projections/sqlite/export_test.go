package sqlite

import (
	"context"
	"fmt"
)

// SetMaxPages caps the read models' file at n pages (0: no cap) through the single
// writer connection, so that tests can fill it without filling a disk.
func SetMaxPages(ctx context.Context, b *Backend, n int64) error {
	if n <= 0 {
		n = 4294967294
	}
	_, err := b.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n))
	return err
}
