package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain/clock"
)

// Decision is the answer to one Keyed.Take, with what the RateLimit headers
// tell the client (docs/api.md, "Rate limits").
type Decision struct {
	Allowed bool
	// Remaining is how many more requests the bucket would take at once now.
	Remaining int
	// RetryAfter is, when refused, how long until the next request is allowed.
	RetryAfter time.Duration
	// Full is how long until the bucket holds its whole burst again.
	Full time.Duration
}

// DefaultMaxTenantKeys bounds a Keyed table: 100,000 buckets of about 100 bytes.
const DefaultMaxTenantKeys = 100_000

// Sharding: each shard has its own lock, so a tenant flooding its shard does
// not queue every other tenant behind one mutex, and its own overflow buckets.
const (
	keyedShards     = 32
	overflowBuckets = 16
)

// Keyed limits requests per key, each request at the rate its caller passes:
// one bucket per key, whatever its rate, so a key whose rate changes (a plan
// upgrade) is measured at the new rate from its next request, the requests it
// already took counted against the new burst. The table is bounded like Limiter's and never fails
// open: when a shard is full of keys still being limited, a key not in it
// shares one of the shard's overflow buckets, limited at its own rate against
// that bucket (conservative: it may be limited early, never let through).
type Keyed struct {
	clock    clock.Clock
	seed     maphash.Seed
	maxShard int
	shards   [keyedShards]keyedShard
}

type keyedShard struct {
	mu        sync.Mutex
	buckets   map[string]bucket
	overflow  [overflowBuckets]bucket
	lastPrune time.Time
}

// bucket is a GCRA time and the interval it was last taken at, so that a
// request at another rate rescales the requests already taken rather than the
// time they stand for: 2 of a free plan's 1-a-minute burst are 2 requests, not
// 2 minutes, of a paid plan's 100-a-second one.
type bucket struct {
	tat      time.Time
	interval time.Duration
}

// at is b's GCRA time at interval and burst, as of now. Requests taken at
// another rate count as many requests at this one, at most a full burst (a
// downgrade then waits one interval, not the old burst's worth of new ones).
func (b bucket) at(now time.Time, interval, burst time.Duration) time.Time {
	if b.interval == interval || b.interval == 0 || !b.tat.After(now) {
		return b.tat
	}
	taken := float64(b.tat.Sub(now)) / float64(b.interval)
	return now.Add(min(time.Duration(taken*float64(interval)), burst))
}

// NewKeyed returns a limiter holding at most maxKeys keys (0: DefaultMaxTenantKeys).
func NewKeyed(clk clock.Clock, maxKeys int) *Keyed {
	if clk == nil {
		clk = clock.System{}
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxTenantKeys
	}
	k := &Keyed{clock: clk, seed: maphash.MakeSeed(), maxShard: max(1, maxKeys/keyedShards)}
	for i := range k.shards {
		k.shards[i].buckets = map[string]bucket{}
	}
	return k
}

// Take takes one request from key's bucket at rate r. An off rate allows
// everything and touches no bucket.
func (k *Keyed) Take(key string, r Rate) Decision {
	if k == nil || r.Off() {
		return Decision{Allowed: true}
	}
	interval := r.Per / time.Duration(r.N)
	if interval <= 0 {
		interval = time.Nanosecond
	}
	burst := time.Duration(max(r.Burst, 1)) * interval
	h := maphash.String(k.seed, key)
	s := &k.shards[h%keyedShards]
	now := k.clock.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	b, known := s.buckets[key]
	store := func(b bucket) { s.buckets[key] = b }
	if !known && len(s.buckets) >= k.maxShard {
		if now.Sub(s.lastPrune) >= pruneEvery || now.Before(s.lastPrune) {
			s.prune(now)
		}
		if len(s.buckets) >= k.maxShard {
			i := (h / keyedShards) % overflowBuckets
			b = s.overflow[i]
			store = func(b bucket) { s.overflow[i] = b }
		}
	}
	ok, wait, next := gcra(b.at(now, interval, burst), now, interval, burst)
	if ok {
		store(bucket{tat: next, interval: interval})
	}
	d := Decision{Allowed: ok, RetryAfter: wait}
	if full := next.Sub(now); full > 0 {
		d.Full = full
		if room := burst - full; room > 0 {
			d.Remaining = int(room / interval)
		}
	} else {
		d.Remaining = max(r.Burst, 1)
	}
	return d
}

// TakeTenant is Take of the tenant's policy bucket (httpapi.TenantLimiter).
func (k *Keyed) TakeTenant(_ context.Context, tenant, policy string, r Rate) Decision {
	return k.Take(tenant+"\x00"+policy, r)
}

func (s *keyedShard) prune(now time.Time) {
	for key, b := range s.buckets {
		if !b.tat.After(now) {
			delete(s.buckets, key)
		}
	}
	s.lastPrune = now
}

// Len is the number of keys held in the table (overflow buckets excluded).
func (k *Keyed) Len() int {
	if k == nil {
		return 0
	}
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}
