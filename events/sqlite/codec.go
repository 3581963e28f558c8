package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/tenantstream/tenantstream/events"
)

// codecV1 tags the stored envelope layout. Stored bytes are never rewritten, so a new
// layout gets a new tag and decode keeps reading every old one (pinned by a golden test).
const codecV1 = 1

// errCorrupt reports a stored envelope that cannot be decoded.
var errCorrupt = errors.New("sqlite: corrupt stored event")

// appendEnvelope encodes ev (without Position, which is the row id) as:
// tag, then uvarint-length-prefixed id, tenant, stream, stream type, type, correlation,
// causation and actor, then varint version, uvarint schema version, varint occurred_at
// and recorded_at in Unix microseconds, and finally the JSON data to the end.
// One compact blob is cheaper to write and to scan than a dozen columns.
func appendEnvelope(dst []byte, ev *events.Event) []byte {
	return appendEnvelopeTail(appendEnvelopeHead(dst, ev), ev)
}

// appendEnvelopeHead encodes the part of the envelope an appender knows before the
// writer assigns versions and recorded_at: the tag and the strings. Append encodes
// it on the caller's goroutine so the single writer only copies it.
func appendEnvelopeHead(dst []byte, ev *events.Event) []byte {
	dst = append(dst, codecV1)
	for _, s := range [...]string{ev.ID, string(ev.TenantID), string(ev.StreamID), ev.StreamType, ev.Type, ev.CorrelationID, ev.CausationID, ev.Actor} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// appendEnvelopeTail encodes the numbers and the data that follow the head.
func appendEnvelopeTail(dst []byte, ev *events.Event) []byte {
	dst = binary.AppendVarint(dst, ev.Version)
	dst = binary.AppendUvarint(dst, uint64(ev.SchemaVersion))
	dst = binary.AppendVarint(dst, ev.OccurredAt.UnixMicro())
	dst = binary.AppendVarint(dst, ev.RecordedAt.UnixMicro())
	return append(dst, ev.Data...)
}

// decodeEnvelope decodes b into ev. It takes ownership of b: strings and Data alias
// it, which saves one allocation per field on replay. Data is the tail of b with
// cap == len, so appending to it reallocates and writing into it cannot reach the
// bytes the strings share.
func decodeEnvelope(b []byte, ev *events.Event) error {
	if len(b) == 0 || b[0] != codecV1 {
		return fmt.Errorf("decode envelope: %w: unknown layout", errCorrupt)
	}
	i := 1
	var strs [8]string
	for k := range strs {
		n, w := binary.Uvarint(b[i:])
		if w <= 0 || n > uint64(len(b)-i-w) {
			return fmt.Errorf("decode envelope: %w: field %d", errCorrupt, k)
		}
		i += w
		if n > 0 {
			strs[k] = unsafe.String(&b[i], int(n))
		}
		i += int(n)
	}
	var nums [4]int64
	for k := range nums {
		var v int64
		var w int
		if k == 1 {
			var u uint64
			u, w = binary.Uvarint(b[i:])
			if u > 1<<31 {
				w = -1
			}
			v = int64(u)
		} else {
			v, w = binary.Varint(b[i:])
		}
		if w <= 0 {
			return fmt.Errorf("decode envelope: %w: number %d", errCorrupt, k)
		}
		nums[k] = v
		i += w
	}
	*ev = events.Event{
		ID: strs[0], TenantID: events.TenantID(strs[1]), StreamID: events.StreamID(strs[2]),
		StreamType: strs[3], Type: strs[4], CorrelationID: strs[5], CausationID: strs[6], Actor: strs[7],
		Version: nums[0], SchemaVersion: int(nums[1]),
		OccurredAt: time.UnixMicro(nums[2]).UTC(), RecordedAt: time.UnixMicro(nums[3]).UTC(),
		Data: b[i:len(b):len(b)],
	}
	return nil
}
