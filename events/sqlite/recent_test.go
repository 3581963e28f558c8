package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

// TestRecentEventsPagesEqualTheFile reads every cursor's page both from memory
// and from the file: same events, same next cursor, same More. Ten kept events
// and batches of several appends make the kept window slide past cursors.
func TestRecentEventsPagesEqualTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, WithRecentEvents(10))
	var head int64
	for round := range 6 {
		for i := range 4 {
			res, err := s.Append(ctx, events.AppendRequest{Tenant: events.TenantID(fmt.Sprintf("t%d", i%2)), Stream: events.StreamID(fmt.Sprintf("s%d", i)),
				Expected: events.AnyVersion, Events: []events.NewEvent{{Type: "x.happened", Data: json.RawMessage(fmt.Sprintf(`{"round":%d}`, round))}, {Type: "x.happened", Data: json.RawMessage(`{}`)}}})
			require.NoError(t, err)
			head = res.Events[len(res.Events)-1].Position
		}
		served := 0
		for pos := int64(0); pos <= head+1; pos++ {
			for _, limit := range []int{1, 3, 100} {
				mem, ok := s.recent.page(pos, limit)
				if !ok {
					continue
				}
				served++
				file, err := s.read(ctx, "", encodeCursor(pos), events.ReadOptions{Limit: limit})
				require.NoError(t, err)
				assert.Equal(t, file, mem, "after %d, limit %d", pos, limit)
				all, err := s.ReadAll(ctx, encodeCursor(pos), events.ReadOptions{Limit: limit})
				require.NoError(t, err)
				assert.Equal(t, file, all)
			}
		}
		assert.Positive(t, served, "the latest pages come from memory")
		_, ok := s.recent.page(0, 10)
		assert.Equal(t, round == 0, ok, "the start is kept only while fewer than 10 events were written")
	}
}
