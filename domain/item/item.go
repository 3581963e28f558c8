package item

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/tenantstream/tenantstream/domain"
)

// Stable event type names. Never rename: they are stored.
const (
	TypePut     = "item.put"
	TypeDeleted = "item.deleted"
)

// StreamType is the stream type of item streams.
const StreamType = "item"

// MaxIDLen and MaxDataBytes bound an item.
const (
	MaxIDLen     = 256
	MaxDataBytes = 64 << 10
)

// Put stores an item's whole data. Size and PrevSize (bytes of data) let billing
// meter storage without reading state.
type Put struct {
	ItemID   string          `json:"item_id"`
	Data     json.RawMessage `json:"data"`
	Size     int64           `json:"size"`
	PrevSize int64           `json:"prev_size"`
	At       time.Time       `json:"at"`
}

// Deleted removes an item.
type Deleted struct {
	ItemID   string    `json:"item_id"`
	PrevSize int64     `json:"prev_size"`
	At       time.Time `json:"at"`
}

// Item is an item's folded state.
type Item struct {
	ID        string          `json:"item_id"`
	Data      json.RawMessage `json:"data"`
	Version   int64           `json:"version"`
	UpdatedAt time.Time       `json:"updated_at"`
	Deleted   bool            `json:"deleted,omitempty"`
}

// Size is the item's stored size in bytes (0 when deleted).
func (it *Item) Size() int64 {
	if it == nil || it.Deleted {
		return 0
	}
	return int64(len(it.Data))
}

// Apply folds one item event.
func (it *Item) Apply(version int64, ev any) {
	switch e := ev.(type) {
	case *Put:
		it.ID, it.Data, it.UpdatedAt, it.Deleted = e.ItemID, e.Data, e.At, false
	case *Deleted:
		it.ID, it.Data, it.UpdatedAt, it.Deleted = e.ItemID, nil, e.At, true
	}
	it.Version = version
}

// StreamID is the stream of an item.
func StreamID(id string) string { return "item-" + id }

// ValidateID checks an item id: 1-256 characters of A-Z a-z 0-9 . _ : -
func ValidateID(id string) error {
	if len(id) == 0 || len(id) > MaxIDLen {
		return domain.FieldError("item_id", "must be 1-%d characters long", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return domain.FieldError("item_id", "may contain only A-Z, a-z, 0-9, '.', '_', ':' and '-'")
		}
	}
	return nil
}

// AppendJSON appends the item as json.Marshal writes it,
// without reflection and without re-compacting Data: item data is compacted when
// it is written. It is on the hot paths of item writes (the answer and the items
// read model). One difference from encoding/json, which escapes <, > and & inside
// a raw message: Data is copied as stored (the same JSON value).
func (it Item) AppendJSON(b []byte) []byte {
	b = append(b, `{"item_id":`...)
	b = appendJSONString(b, it.ID)
	b = append(b, `,"data":`...)
	b = appendRaw(b, it.Data)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, it.Version, 10)
	b = append(b, `,"updated_at":"`...)
	b = it.UpdatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if it.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	return append(b, '}')
}

// AppendJSON appends the event as json.Marshal writes it (see Item.AppendJSON);
// every item write encodes one (events.JSONAppender).
func (p *Put) AppendJSON(b []byte) []byte {
	b = append(b, `{"item_id":`...)
	b = appendJSONString(b, p.ItemID)
	b = append(b, `,"data":`...)
	b = appendRaw(b, p.Data)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, p.Size, 10)
	b = append(b, `,"prev_size":`...)
	b = strconv.AppendInt(b, p.PrevSize, 10)
	b = append(b, `,"at":"`...)
	b = p.At.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendRaw appends raw JSON as json.Marshal writes a json.RawMessage (nil is null).
func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// appendJSONString appends s quoted; strings needing escapes go through
// encoding/json so the output matches it exactly.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
