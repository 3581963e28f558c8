package dynamodb

import (
	"sync"

	"github.com/tenantstream/tenantstream/events"
)

// maxKnownHeads bounds the streams a Store remembers a head of; past it the
// memory starts over (a forgotten head costs one consistent read, never a wrong
// answer).
const maxKnownHeads = 10_000

// knownHeads remembers, per stream, the highest version this Store has seen
// stored (read by Load or written by an append) and that event's recorded_at.
// Events are never deleted or rewritten, so "version N exists, stamped at T" stays
// true forever, whichever process appends after it: an append at Exactly(N) with
// N at or below a known head needs no check that item N exists, neither a
// ConditionCheck in a transaction nor a read beforehand (docs/aws.md, "Append").
type knownHeads struct {
	mu sync.Mutex
	m  map[string]knownHead
}

type knownHead struct {
	version  int64
	recorded int64 // recorded_at of that version, in microseconds
}

func headKey(t events.TenantID, s events.StreamID) string { return string(t) + "\x00" + string(s) }

// note records that version exists in the stream, stamped at recorded.
func (k *knownHeads) note(t events.TenantID, s events.StreamID, version, recorded int64) {
	if version <= 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	key := headKey(t, s)
	if h, ok := k.m[key]; ok && h.version >= version {
		return
	}
	if k.m == nil || len(k.m) >= maxKnownHeads {
		k.m = make(map[string]knownHead)
	}
	k.m[key] = knownHead{version: version, recorded: recorded}
}

// covers reports whether version is known to exist in the stream, with its
// recorded_at when version is the known head itself (0 when the head is past it:
// an append after version then conflicts anyway).
func (k *knownHeads) covers(t events.TenantID, s events.StreamID, version int64) (recorded int64, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	h, found := k.m[headKey(t, s)]
	if !found || h.version < version {
		return 0, false
	}
	if h.version == version {
		return h.recorded, true
	}
	return 0, true
}
