package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

// The writer assigns positions itself and writes batches with multi-row INSERTs of
// several sizes; every size mix, and a reopen (which reads the last position back),
// must give the positions the appends reported, with no gap or reuse.
func TestWriterPositionsAcrossBatchSizesAndReopen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sizes []int
	}{
		{"single events", []int{1, 1, 1}},
		{"below and at each insert size", []int{3, 4, 15, 16, 63, 64}},
		{"above the largest insert size", []int{65, 100, 99}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "events.db")
			var want []int64
			for round := range 2 {
				s, err := Open(path)
				require.NoError(t, err)
				for i, n := range tc.sizes {
					evs := make([]events.NewEvent, n)
					for k := range evs {
						evs[k] = events.NewEvent{Type: "t.x", Data: json.RawMessage(fmt.Sprintf(`{ "k" : %d }`, k))}
					}
					res, err := s.Append(ctx, events.AppendRequest{Tenant: "t", Stream: events.StreamID(fmt.Sprintf("s%d-%d", round, i)), Expected: events.NoStream, Events: evs})
					require.NoError(t, err)
					require.Len(t, res.Events, n)
					for k, e := range res.Events {
						assert.Equal(t, int64(k+1), e.Version)
						assert.JSONEq(t, fmt.Sprintf(`{"k":%d}`, k), string(e.Data))
						assert.NotContains(t, string(e.Data), " ", "data is stored compact")
						want = append(want, e.Position)
					}
				}
				require.NoError(t, s.Close())
			}
			r, err := Open(path)
			require.NoError(t, err)
			defer r.Close()
			page, err := r.ReadAll(ctx, "", events.ReadOptions{Limit: 10_000})
			require.NoError(t, err)
			got := make([]int64, len(page.Events))
			for i, e := range page.Events {
				got[i] = e.Position
			}
			assert.Equal(t, want, got)
			for i := 1; i < len(got); i++ {
				assert.Equal(t, got[i-1]+1, got[i], "positions are contiguous")
			}
		})
	}
}
