package commands

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// The caps of one page of items (docs/api.md, "Requests and pages").
const (
	// MaxListItems caps a page by count (the limit a client may ask for).
	MaxListItems = 1000
	// MaxListBytes caps a page by size: the items' JSON, as the page shows them.
	// A page stops before the item that would cross it, but always holds one
	// item, so paging progresses; the largest item (64 KiB of data and a
	// 256-character id) fits many times over.
	MaxListBytes = 1 << 20
)

// ListItems returns a page of the tenant's items in id order from the read model,
// which may trail the latest writes by the projection lag: at most limit items
// and MaxListBytes, after cursor (a next cursor of an earlier page, or "" for the
// first). The next cursor is "" on the last page.
func (s *Service) ListItems(ctx context.Context, m Meta, tenantID, cursor string, limit int) ([]item.Item, string, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return nil, "", err
	}
	if err := s.requireReadable(ctx, tid); err != nil {
		return nil, "", err
	}
	after, err := s.decodeItemCursor(tid, cursor)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > MaxListItems {
		limit = 100
	}
	var (
		out     []item.Item
		size    int
		last    string // the key of out's last item
		largest int    // the largest entry read
	)
	for reads := 0; ; reads++ {
		// One more than the page needs: is there a next page?
		n := nextChunk(limit-len(out)+1, reads, largest, MaxListBytes-size)
		entries, err := s.Reader.List(ctx, projections.ItemsProjection, tid, projections.ItemsCollection, after, n)
		if err != nil {
			return nil, "", storeError("list items", err)
		}
		for _, e := range entries {
			largest = max(largest, len(e.Value))
			if len(out) == limit || (len(out) > 0 && size+len(e.Value) > MaxListBytes) {
				return out, s.encodeItemCursor(tid, last), nil
			}
			var it item.Item
			if err := json.Unmarshal(e.Value, &it); err != nil {
				return nil, "", storeError("decode item", err)
			}
			out = append(out, it)
			size += len(e.Value)
			last = e.Key
		}
		if len(entries) < n {
			return out, "", nil
		}
		after = last
	}
}

// Item cursors are the last key of the page, sealed like the events log's
// cursors (docs/ARCHITECTURE.md, "API cursors") under a purpose prefix: a cursor
// only ever positions a tenant's own list, but one that was made up, edited,
// cut short, taken from another tenant's list or from the events log is refused
// (400 on "cursor") instead of quietly starting somewhere else.
const itemCursorPurpose = "items\x00"

// maxItemCursorLen bounds what decodeItemCursor will try to open: the sealed
// form of the longest key.
var maxItemCursorLen = base64.RawURLEncoding.EncodedLen(2 + 12 + ((len(itemCursorPurpose)+item.MaxIDLen)/32+1)*32 + 16)

func (s *Service) encodeItemCursor(tenant events.TenantID, key string) string {
	return s.cursors().Seal(tenant, events.Cursor(itemCursorPurpose+key))
}

// decodeItemCursor returns the key a cursor of tenant's list resumes after ("" for
// the first page).
func (s *Service) decodeItemCursor(tenant events.TenantID, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	bad := domain.FieldError("cursor", "invalid cursor: pass the next_cursor of a page of this list, or none")
	if len(cursor) > maxItemCursorLen {
		return "", bad
	}
	c, err := s.cursors().Open(tenant, cursor)
	if err != nil {
		return "", bad
	}
	key, ok := strings.CutPrefix(string(c), itemCursorPurpose)
	if !ok || item.ValidateID(key) != nil {
		return "", bad
	}
	return key, nil
}
