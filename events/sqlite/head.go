package sqlite

import (
	"context"
	"fmt"
)

// Head returns the highest committed position (0 when the store is empty), so the
// projection engine can report its lag in positions. Errors: events.ErrClosed,
// ctx.Err().
func (s *Store) Head(ctx context.Context) (int64, error) {
	h, err := s.headPosition(ctx)
	if err != nil {
		return 0, fmt.Errorf("head: %w", err)
	}
	return h, nil
}
