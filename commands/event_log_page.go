package commands

import (
	"bytes"
	"context"

	"github.com/tenantstream/tenantstream/events"
)

// The caps of one page of the events log (docs/api.md, "Paging the event log").
const (
	// MaxEventLogBytes caps a page of the events log by size: the events' JSON
	// as the page shows it. A page stops before the event that would cross it,
	// but always holds one, so paging progresses; the largest event (64 KiB of
	// data and its envelope) fits many times over.
	MaxEventLogBytes = 1 << 20
)

// readEventLog is ReadTenant capped at limit events and MaxEventLogBytes, read
// in chunks (nextChunk). Only a whole store page has a cursor after it, so when
// only part of a chunk fits, that part is read again by itself.
func (s *Service) readEventLog(ctx context.Context, tid events.TenantID, after events.Cursor, limit int) (events.Page, error) {
	out := events.Page{Next: after}
	size, largest := 0, 0
	retry := 0 // the count to read again after a chunk that did not fit; 0: none
	for reads := 0; len(out.Events) < limit; reads++ {
		ask := nextChunk(limit-len(out.Events), reads, largest, MaxEventLogBytes-size)
		if retry > 0 {
			ask = retry
		}
		p, err := s.Store.ReadTenant(ctx, tid, out.Next, events.ReadOptions{Limit: ask})
		if err != nil {
			return events.Page{}, err
		}
		fit, fitBytes := 0, 0
		for _, e := range p.Events {
			n := eventLogSize(e)
			largest = max(largest, n)
			if size+fitBytes+n > MaxEventLogBytes && len(out.Events)+fit > 0 {
				break
			}
			fit++
			fitBytes += n
		}
		if fit < len(p.Events) {
			if fit == 0 {
				out.More = true // the page is full
				return out, nil
			}
			retry = fit
			continue
		}
		retry = 0
		out.Events = append(out.Events, p.Events...)
		size += fitBytes
		out.Next, out.More = p.Next, p.More
		if !p.More || len(p.Events) == 0 {
			break
		}
	}
	return out, nil
}

// eventLogSize bounds the bytes e takes in the events log's JSON: its envelope,
// and its data as encoding/json writes it, which escapes <, > and & (six bytes
// for one) and U+2028, U+2029 (six for three).
func eventLogSize(e events.Event) int {
	const envelope = 320 // member names, version numbers, two timestamps, separators
	n := envelope + len(e.ID) + len(e.TenantID) + len(e.StreamID) + len(e.StreamType) + len(e.Type) +
		len(e.CorrelationID) + len(e.CausationID) + len(e.Actor) + len(e.Data)
	for _, c := range []string{"<", ">", "&"} {
		n += 5 * bytes.Count(e.Data, []byte(c))
	}
	for _, c := range []string{"\u2028", "\u2029"} {
		n += 3 * bytes.Count(e.Data, []byte(c))
	}
	return n
}
