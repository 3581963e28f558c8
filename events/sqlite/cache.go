package sqlite

import (
	"container/list"
	"sync"

	"github.com/tenantstream/tenantstream/events"
)

// streamCache keeps whole recently used streams in memory so Load rarely reaches
// SQLite. It is safe because events are immutable and the single writer tells the
// cache about every commit before acknowledging it.
//
// A Load that misses reads the database without the lock, so a commit can land
// between its read and its insert. To never cache a stale stream, a loader first
// registers a ticket; the writer marks tickets of streams it commits to, and a
// marked ticket's result is not cached.
type streamCache struct {
	mu      sync.Mutex
	max     int
	size    int
	lru     *list.List // of *cacheEntry, front = most recent
	entries map[streamKey]*list.Element
	loading map[streamKey]*ticket
}

type cacheEntry struct {
	key streamKey
	evs []events.Event // versions 1..n, read-only once published
}

type ticket struct {
	stale bool
	refs  int
}

func newStreamCache(maxEvents int) *streamCache {
	return &streamCache{max: maxEvents, lru: list.New(), entries: map[streamKey]*list.Element{}, loading: map[streamKey]*ticket{}}
}

// get returns the cached stream (all versions from 1), or false.
func (c *streamCache) get(k streamKey) ([]events.Event, bool) {
	if c.max == 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).evs, true
}

// begin registers a loader of k before it reads the database.
func (c *streamCache) begin(k streamKey) *ticket {
	if c.max == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.loading[k]
	if !ok || t.stale {
		// A stale ticket stays stale for its holders; new loaders get a fresh one.
		t = &ticket{}
		c.loading[k] = t
	}
	t.refs++
	return t
}

// finish caches evs (the whole stream as read) unless a commit raced the read.
func (c *streamCache) finish(k streamKey, t *ticket, evs []events.Event) {
	if t == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.refs--
	if c.loading[k] == t && t.refs == 0 {
		delete(c.loading, k)
	}
	if t.stale || len(evs) == 0 || len(evs) > c.max/4 {
		return
	}
	if _, ok := c.entries[k]; ok {
		return
	}
	c.put(k, evs)
}

// appended records a commit of evs to k: an entry is extended, a loader's ticket
// goes stale, and a new stream is cached from its first event.
func (c *streamCache) appended(k streamKey, evs []events.Event) {
	if c.max == 0 || len(evs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.loading[k]; ok {
		t.stale = true
		delete(c.loading, k)
	}
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		if int64(len(e.evs)) != evs[0].Version-1 || len(e.evs)+len(evs) > c.max/4 {
			c.remove(el)
			return
		}
		// Appending in place is safe: readers copy out a prefix no longer than the
		// length they saw, and this only writes past it.
		e.evs = append(e.evs, evs...)
		c.size += len(evs)
		c.lru.MoveToFront(el)
		c.evict()
		return
	}
	if evs[0].Version == 1 && len(evs) <= c.max/4 {
		c.put(k, append([]events.Event(nil), evs...))
	}
}

func (c *streamCache) put(k streamKey, evs []events.Event) {
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, evs: evs})
	c.size += len(evs)
	c.evict()
}

func (c *streamCache) evict() {
	for c.size > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *streamCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	c.size -= len(e.evs)
}
