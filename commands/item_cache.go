package commands

import (
	"container/list"
	"sync"

	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
)

// itemCache keeps recently written or read item states in memory, so a read or
// a write starts from a known version and only reads the stream's tail after
// it. It is always safe, even with other processes writing: events are
// immutable and versions only grow, so a stale entry just means a longer tail.
type itemCache struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	lru      *list.List // of *itemEntry, front = most recent
	entries  map[itemKey]*list.Element
}

type itemKey struct {
	tenant events.TenantID
	id     string
}

type itemEntry struct {
	key itemKey
	it  item.Item
}

const defaultItemCacheBytes = 64 << 20

func newItemCache(maxBytes int) *itemCache {
	return &itemCache{maxBytes: maxBytes, lru: list.New(), entries: map[itemKey]*list.Element{}}
}

func entrySize(it item.Item) int { return len(it.Data) + len(it.ID) + 96 }

func (c *itemCache) get(tenant events.TenantID, id string) (item.Item, bool) {
	if c == nil {
		return item.Item{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[itemKey{tenant, id}]
	if !ok {
		return item.Item{}, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*itemEntry).it, true
}

// put records it unless the cache already holds a later version.
func (c *itemCache) put(tenant events.TenantID, it item.Item) {
	if c == nil || it.Version == 0 {
		return
	}
	size := entrySize(it)
	if size > c.maxBytes/16 {
		return // one item must not evict the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := itemKey{tenant, it.ID}
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*itemEntry)
		if e.it.Version >= it.Version {
			return
		}
		c.bytes += size - entrySize(e.it)
		e.it = it
		c.lru.MoveToFront(el)
	} else {
		c.entries[k] = c.lru.PushFront(&itemEntry{key: k, it: it})
		c.bytes += size
	}
	for c.bytes > c.maxBytes && c.lru.Len() > 0 {
		el := c.lru.Back()
		e := el.Value.(*itemEntry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.bytes -= entrySize(e.it)
	}
}

// forget drops every entry of tenant (an erased tenant's plaintext).
func (c *itemCache) forget(tenant events.TenantID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.entries {
		if k.tenant == tenant {
			c.lru.Remove(el)
			delete(c.entries, k)
			c.bytes -= entrySize(el.Value.(*itemEntry).it)
		}
	}
}
