package sqlite

import (
	"slices"
	"sync"

	"github.com/tenantstream/tenantstream/events"
)

// recentEvents keeps the last committed events in position order, so ReadAll
// from a cursor near the head (the feed that drives the projections, a few
// milliseconds behind the writer) is answered from memory instead of reading
// back and decoding what was just written. They are the same values the stream
// cache hands to Load.
type recentEvents struct {
	mu  sync.RWMutex
	max int
	evs []events.Event
	// Every event with a position in (floor, head] is in evs; positions in that
	// range missing from evs do not exist (rolled back before commit).
	floor, head int64
}

func newRecentEvents(max int, head int64) *recentEvents {
	return &recentEvents{max: max, floor: head, head: head}
}

// committed records a transaction's events (in position order) and the last
// position it used.
func (r *recentEvents) committed(rows []pendingRow, head int64) {
	if r.max == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, row := range rows {
		r.evs = append(r.evs, *row.ev)
	}
	r.head = max(r.head, head)
	if over := len(r.evs) - r.max; over > 0 {
		// Drop the older half at once rather than one event per commit.
		drop := max(over, r.max/2)
		r.floor = r.evs[drop-1].Position
		r.evs = slices.Delete(r.evs, 0, drop)
	}
}

// page answers an unfiltered ReadAll after position pos from memory; ok is false
// when pos is older than what is kept.
func (r *recentEvents) page(pos int64, limit int) (events.Page, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.max == 0 || pos < r.floor {
		return events.Page{}, false
	}
	i, _ := slices.BinarySearchFunc(r.evs, pos+1, func(ev events.Event, p int64) int {
		switch {
		case ev.Position < p:
			return -1
		case ev.Position > p:
			return 1
		}
		return 0
	})
	rest := r.evs[i:]
	if len(rest) > limit {
		out := slices.Clone(rest[:limit])
		return events.Page{Events: out, Next: encodeCursor(out[limit-1].Position), More: true}, true
	}
	out := make([]events.Event, len(rest))
	copy(out, rest)
	return events.Page{Events: out, Next: encodeCursor(max(pos, r.head))}, true
}
