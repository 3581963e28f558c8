package commands_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/cursorseal"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// itemsReader is a read model of one tenant's items that records how much each
// List call asked for and handed out.
type itemsReader struct {
	tenant  events.TenantID
	entries []projections.Entry // sorted by key

	mu       sync.Mutex
	maxAsked int
	handed   int
}

func newItemsReader(tenant events.TenantID, sizes []int) *itemsReader {
	r := &itemsReader{tenant: tenant}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, n := range sizes {
		id := fmt.Sprintf("item-%04d", i)
		data := `{"p":"` + strings.Repeat("x", max(n-8, 0)) + `"}`
		it := item.Item{ID: id, Data: []byte(data), Version: 1, UpdatedAt: at}
		r.entries = append(r.entries, projections.Entry{Key: id, Value: it.AppendJSON(nil)})
	}
	sort.Slice(r.entries, func(i, j int) bool { return r.entries[i].Key < r.entries[j].Key })
	return r
}

func (r *itemsReader) Get(context.Context, string, events.TenantID, string, string) ([]byte, error) {
	return nil, projections.ErrNotFound
}

func (r *itemsReader) List(_ context.Context, projection string, tenant events.TenantID, collection, after string, limit int) ([]projections.Entry, error) {
	if projection != projections.ItemsProjection || collection != projections.ItemsCollection || tenant != r.tenant {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxAsked = max(r.maxAsked, limit)
	i := sort.Search(len(r.entries), func(i int) bool { return r.entries[i].Key > after })
	out := r.entries[i:min(i+limit, len(r.entries))]
	r.handed += len(out)
	return out, nil
}

// pageAll lists every page of limit and returns the pages' item ids.
func pageAll(t *testing.T, svc *commands.Service, m commands.Meta, tenant string, limit int) [][]string {
	t.Helper()
	var pages [][]string
	cursor := ""
	for {
		items, next, err := svc.ListItems(context.Background(), m, tenant, cursor, limit)
		require.NoError(t, err)
		var ids []string
		size := 0
		for _, it := range items {
			ids = append(ids, it.ID)
			size += len(it.AppendJSON(nil))
		}
		require.NotEmpty(t, ids, "a page is never empty unless the list is (cursor %q)", cursor)
		assert.LessOrEqual(t, len(ids), limit)
		if len(ids) > 1 {
			assert.LessOrEqual(t, size, commands.MaxListBytes, "page %d holds %d bytes of items", len(pages), size)
		}
		pages = append(pages, ids)
		if next == "" {
			return pages
		}
		require.Less(t, len(pages), 10000, "paging does not end")
		cursor = next
	}
}

// TestListItemsIsCappedInBytes: pages stop at MaxListBytes of items (but hold at
// least one), paging returns every item exactly once in order, and one request
// never reads much more than its page from the read model, whatever the limit
// (docs/api.md, "Requests and pages").
func TestListItemsIsCappedInBytes(t *testing.T) {
	t.Parallel()
	const tenant = "t1"
	m := commands.Meta{Principal: identity.Principal{TenantID: tenant, UserID: "u1", Roles: []string{identity.RoleTenantMember}}}
	big := item.MaxDataBytes
	cases := []struct {
		name  string
		sizes []int
		limit int
		pages int // expected page count, 0: not checked
	}{
		// 200 items of 64 KiB would have been 13 MiB in one answer; 15 of them
		// (with their ids and versions) fit in a page.
		{"all at the largest", repeat(big, 200), 1000, 14},
		{"just under a page each", repeat(commands.MaxListBytes/2+1, 5), 1000, 5},
		{"small ones are capped by count", repeat(100, 2500), 1000, 3},
		{"small limit", repeat(big, 10), 3, 4},
		{"mixed", mixed(400), 1000, 0},
		{"one", []int{big}, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rd := newItemsReader(tenant, tc.sizes)
			svc := &commands.Service{Reader: rd}
			pages := pageAll(t, svc, m, tenant, tc.limit)
			var got []string
			for _, p := range pages {
				got = append(got, p...)
			}
			var want []string
			for _, e := range rd.entries {
				want = append(want, e.Key)
			}
			assert.Equal(t, want, got, "every item exactly once, in id order")
			if tc.pages > 0 {
				assert.Equal(t, tc.pages, len(pages), "pages")
			}
			// Bounded reads: no List asks for a thousand 64 KiB items, and all pages
			// together read little more than the items they return.
			t.Logf("%d items in %d pages; %d read from the read model, at most %d a read", len(want), len(pages), rd.handed, rd.maxAsked)
			assert.LessOrEqual(t, rd.maxAsked, 64)
			assert.LessOrEqual(t, rd.handed, len(want)+2*len(pages), "pages read more than they returned")
		})
	}

	t.Run("one page of the largest items reads a bounded amount", func(t *testing.T) {
		t.Parallel()
		rd := newItemsReader(tenant, repeat(big, 300))
		items, next, err := (&commands.Service{Reader: rd}).ListItems(context.Background(), m, tenant, "", 1000)
		require.NoError(t, err)
		assert.NotEmpty(t, next)
		assert.Len(t, items, commands.MaxListBytes/len(rd.entries[0].Value))
		assert.LessOrEqual(t, rd.handed*len(rd.entries[0].Value), 5<<20, "read %d items for a page of %d", rd.handed, len(items))
	})
}

// TestListItemsRefusesForeignCursors: a cursor is good only for the list of the
// tenant it came from, as it came; anything else is a 400 on "cursor" (as the
// events log refuses a cursor its store did not produce), while a cursor whose
// item was since deleted still resumes after it.
func TestListItemsRefusesForeignCursors(t *testing.T) {
	t.Parallel()
	sizes := repeat(10, 5)
	meta := func(tenant string) commands.Meta {
		return commands.Meta{Principal: identity.Principal{TenantID: tenant, UserID: "u1", Roles: []string{identity.RoleTenantMember}}}
	}
	seal := cursorseal.Ephemeral() // one platform: one key for both tenants
	a := &commands.Service{Reader: newItemsReader("ta", sizes), Cursors: seal}
	b := &commands.Service{Reader: newItemsReader("tb", sizes), Cursors: seal}
	items, next, err := a.ListItems(context.Background(), meta("ta"), "ta", "", 2)
	require.NoError(t, err)
	require.Len(t, items, 2)
	require.NotEmpty(t, next)
	_, bNext, err := b.ListItems(context.Background(), meta("tb"), "tb", "", 2)
	require.NoError(t, err)
	assert.NotEqual(t, next, bNext, "the same position in two tenants' lists is two cursors")

	bad := map[string]string{
		"another tenant's":       bNext,
		"a bare item id":         "item-0001",
		"the old unkeyed form":   "c1.AAAAAAAAAAAAaXRlbS0wMDAx", // a zero tag and item-0001
		"cut short":              next[:len(next)-2],
		"edited":                 next[:len(next)-2] + string(next[len(next)-2]^1) + next[len(next)-1:],
		"not base64":             "!!!!",
		"padded":                 next + "=",
		"overlong":               strings.Repeat("A", 1000),
		"an events cursor":       "p1.42",
		"a sealed events cursor": seal.Seal("ta", "p1.42"),
		"an item id sealed bare": seal.Seal("ta", "item-0001"),
		"whitespace":             " " + next,
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			_, _, err := a.ListItems(context.Background(), meta("ta"), "ta", c, 2)
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, domain.CodeInvalid, de.Code)
			assert.Equal(t, "cursor", de.Field)
		})
	}

	items, _, err = a.ListItems(context.Background(), meta("ta"), "ta", next, 2)
	require.NoError(t, err)
	assert.Equal(t, "item-0002", items[0].ID)
	// The item a cursor names is deleted: the cursor still resumes after it.
	rd := a.Reader.(*itemsReader)
	rd.entries = append(rd.entries[:1], rd.entries[2:]...)
	items, _, err = a.ListItems(context.Background(), meta("ta"), "ta", next, 2)
	require.NoError(t, err)
	assert.Equal(t, "item-0002", items[0].ID)
}

func repeat(n, times int) []int {
	out := make([]int, times)
	for i := range out {
		out[i] = n
	}
	return out
}

// mixed is count sizes from tiny to the largest, in a fixed shuffled order.
func mixed(count int) []int {
	out := make([]int, count)
	x := uint32(7)
	for i := range out {
		x = x*1664525 + 1013904223
		switch x >> 30 {
		case 0:
			out[i] = item.MaxDataBytes
		case 1:
			out[i] = int(x>>8) % item.MaxDataBytes
		default:
			out[i] = int(x>>8) % 200
		}
	}
	return out
}
