package commands

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
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
	after, err := decodeItemCursor(tid, cursor)
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
		entries, err := s.Reader.List(ctx, ItemsProjection, tid, ItemsCollection, after, n)
		if err != nil {
			return nil, "", storeError("list items", err)
		}
		for _, e := range entries {
			largest = max(largest, len(e.Value))
			if len(out) == limit || (len(out) > 0 && size+len(e.Value) > MaxListBytes) {
				return out, encodeItemCursor(tid, last), nil
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

// Item cursors are "c1." and the base64url of a tag and the last key of the page.
// The tag, a hash of the tenant and the key, is a check, not a secret: a cursor
// only ever positions a tenant's own list, but one that was edited, cut short or
// taken from another tenant's list is refused (400 on "cursor", as the events
// log refuses a cursor its store did not produce) instead of quietly starting
// somewhere else.
const (
	itemCursorPrefix = "c1."
	itemCursorTagLen = 8
)

var (
	itemCursorEncoding = base64.RawURLEncoding.Strict()
	maxItemCursorLen   = len(itemCursorPrefix) + itemCursorEncoding.EncodedLen(itemCursorTagLen+item.MaxIDLen)
)

func itemCursorTag(tenant events.TenantID, key string) []byte {
	h := sha256.New()
	h.Write([]byte("tenantstream items cursor\x00"))
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return h.Sum(nil)[:itemCursorTagLen]
}

func encodeItemCursor(tenant events.TenantID, key string) string {
	return itemCursorPrefix + itemCursorEncoding.EncodeToString(append(itemCursorTag(tenant, key), key...))
}

// decodeItemCursor returns the key a cursor of tenant's list resumes after ("" for
// the first page).
func decodeItemCursor(tenant events.TenantID, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	bad := domain.FieldError("cursor", "invalid cursor: pass the next_cursor of a page of this list, or none")
	rest, ok := strings.CutPrefix(cursor, itemCursorPrefix)
	if !ok || len(cursor) > maxItemCursorLen {
		return "", bad
	}
	raw, err := itemCursorEncoding.DecodeString(rest)
	if err != nil || len(raw) <= itemCursorTagLen {
		return "", bad
	}
	key := string(raw[itemCursorTagLen:])
	if item.ValidateID(key) != nil || !hmac.Equal(raw[:itemCursorTagLen], itemCursorTag(tenant, key)) {
		return "", bad
	}
	return key, nil
}
