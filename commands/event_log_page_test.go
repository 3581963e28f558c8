package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
)

// countingStore records how much each ReadTenant asked for and handed out.
type countingStore struct {
	events.Store
	mu       sync.Mutex
	maxAsked int
	handed   int
}

func (s *countingStore) ReadTenant(ctx context.Context, tenant events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	p, err := s.Store.ReadTenant(ctx, tenant, after, opts)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxAsked = max(s.maxAsked, opts.Limit)
	s.handed += len(p.Events)
	return p, err
}

// TestEventLogIsCappedInBytes: a page of the events log holds at most
// MaxEventLogBytes of events as the route writes them (encoding/json), but at
// least one; paging returns every event exactly once; and no store read asks for
// the whole limit at once (docs/api.md, "Paging the event log").
func TestEventLogIsCappedInBytes(t *testing.T) {
	t.Parallel()
	const tenant = "t1"
	m := commands.Meta{Principal: identity.Principal{TenantID: tenant, UserID: "u1", Roles: []string{identity.RoleTenantAdmin}}}
	big := strings.Repeat("x", 60<<10)
	escaped := strings.Repeat("<&>", 20<<10) // 60 KiB that encoding/json writes as 360 KiB
	cases := []struct {
		name  string
		data  func(i int) string
		count int
		limit int
		pages int // 0: not checked
	}{
		// 200 events of 60 KiB would have been 12 MiB in one answer.
		{"large", func(int) string { return big }, 200, 1000, 0},
		{"large and escaped", func(int) string { return escaped }, 20, 1000, 10},
		{"small ones are capped by count", func(int) string { return "s" }, 450, 100, 5},
		{"mixed", func(i int) string {
			switch i % 5 {
			case 0:
				return big
			case 1:
				return escaped[:i*97%len(escaped)]
			}
			return fmt.Sprint(i)
		}, 300, 1000, 0},
		{"small limit", func(int) string { return big }, 10, 3, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &countingStore{Store: memstore.New()}
			var want []string
			for i := 0; i < tc.count; i += 50 {
				var evs []events.NewEvent
				for j := i; j < min(i+50, tc.count); j++ {
					data := []byte(`{"d":"` + tc.data(j) + `"}`)
					evs = append(evs, events.NewEvent{ID: fmt.Sprintf("e-%04d", j), Type: "test.happened", Data: data})
					want = append(want, fmt.Sprintf("e-%04d", j))
				}
				_, err := st.Append(context.Background(), events.AppendRequest{Tenant: tenant, Stream: events.StreamID(fmt.Sprint("s-", i)), StreamType: "s", Expected: events.AnyVersion, Events: evs})
				require.NoError(t, err)
			}
			svc := &commands.Service{Store: st}
			var (
				got    []string
				pages  int
				cursor events.Cursor
			)
			for {
				page, err := svc.EventLog(context.Background(), m, tenant, cursor, tc.limit)
				require.NoError(t, err)
				require.NotEmpty(t, page.Events, "page %d", pages)
				assert.LessOrEqual(t, len(page.Events), tc.limit)
				body, err := json.Marshal(page.Events)
				require.NoError(t, err)
				if len(page.Events) > 1 {
					assert.LessOrEqual(t, len(body), commands.MaxEventLogBytes, "page %d: %d events in %d bytes", pages, len(page.Events), len(body))
				}
				for _, e := range page.Events {
					got = append(got, e.ID)
				}
				pages++
				if !page.More {
					break
				}
				require.Less(t, pages, 1000, "paging does not end")
				cursor = page.Next
			}
			assert.Equal(t, want, got, "every event exactly once, in order")
			if tc.pages > 0 {
				assert.Equal(t, tc.pages, pages, "pages")
			}
			t.Logf("%d events in %d pages; %d read from the store, at most %d a read", len(want), pages, st.handed, st.maxAsked)
			assert.LessOrEqual(t, st.maxAsked, 64, "a store read asked for more than a chunk")
			assert.LessOrEqual(t, st.handed, 2*len(want)+16*pages, "pages read far more than they returned")
		})
	}
}
