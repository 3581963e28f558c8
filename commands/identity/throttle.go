package identity

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// ThrottlePolicy says how failures on one key are slowed down: after Free failures
// each further failure locks the key for Base, doubling up to Max. A key with no
// failure for Forget starts over. Attempts are counted before their password is
// checked, so at most Free+1 attempts can be in flight on a key that has not
// failed yet, and one at a time after that, between locks.
type ThrottlePolicy struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
}

// ThrottleConfig is the login throttling policy (docs/api.md, "Login
// throttling"). Every attempt counts against three keys:
//
//   - Address: the client address over every account (an IPv6 client by its
//     /64). Hard: it stops one client guessing, or locking out, many accounts.
//   - Pair: one account from one address. Hard: it stops one client guessing
//     one account.
//   - Account: one account from every address. Soft: it is not applied to an
//     address the account logged in from successfully within KnownFor, so an
//     attacker who knows a victim's tenant and email cannot lock the victim out
//     of the places it logs in from; it caps at a short Max for everyone else.
//
// Each key class keeps at most MaxKeys keys; when a class is full of live keys, a
// new key shares that class's one overflow key, which locks as fast as any key
// (throttling conservatively, never ignoring). The known addresses are bounded
// the same way: KnownPerAccount per account, for at most MaxKnownAccounts
// accounts; forgetting one only takes away that exemption.
type ThrottleConfig struct {
	Address, Pair, Account ThrottlePolicy

	MaxKeys          int
	KnownPerAccount  int
	KnownFor         time.Duration
	MaxKnownAccounts int
}

// DefaultThrottleConfig is the policy the servers use. Addresses get a larger
// allowance than pairs because users behind one NAT share one.
var DefaultThrottleConfig = ThrottleConfig{
	Address:          ThrottlePolicy{Free: 50, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour},
	Pair:             ThrottlePolicy{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour},
	Account:          ThrottlePolicy{Free: 20, Base: time.Second, Max: 5 * time.Minute, Forget: time.Hour},
	MaxKeys:          100_000,
	KnownPerAccount:  8,
	KnownFor:         30 * 24 * time.Hour,
	MaxKnownAccounts: 100_000,
}

// pruneEvery bounds how often a full table is scanned for keys to forget, so a
// spray of new keys against a full table costs no more than a map lookup each.
const pruneEvery = time.Second

// ThrottledError is returned while a key is locked. It unwraps to a rate_limited
// domain.Error and tells the HTTP layer the Retry-After.
type ThrottledError struct {
	Wait time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("identity: too many failed logins, retry in %s", e.Wait)
}

// RetryAfter is how long to wait before trying again.
func (e *ThrottledError) RetryAfter() time.Duration { return e.Wait }

// Unwrap gives the client-facing error, the same for every key class so a lock
// does not reveal whether an account exists.
func (e *ThrottledError) Unwrap() error {
	return &domain.Error{Code: domain.CodeRateLimited, Message: "Too many failed login attempts; retry later."}
}

type keyClass int

const (
	classAddress keyClass = iota
	classPair
	classAccount
	numClasses
)

type throttleEntry struct {
	failures int32
	inflight int32 // attempts begun and not yet ended
	last     int64 // last failure, Unix nanoseconds
	locked   int64 // locked until, Unix nanoseconds
}

// table holds one key class. Keys are 64-bit hashes under a per-process random
// seed: small and fixed-size whatever the client sends, and not collidable on
// purpose (a collision would only make two keys share a count).
type table struct {
	policy   ThrottlePolicy
	entries  map[uint64]*throttleEntry
	overflow throttleEntry
	pruned   int64
}

type knownAddr struct {
	addr uint64
	seen int64
}

// Throttle slows down login attempts per client address, per (account, address)
// and per account, in memory. Its zero value is not usable; see NewThrottle.
type Throttle struct {
	clock clock.Clock
	cfg   ThrottleConfig
	seed  maphash.Seed

	mu          sync.Mutex
	tables      [numClasses]table
	known       map[uint64][]knownAddr // by account
	knownPruned int64
}

// NewThrottle returns a throttle using clk and DefaultThrottleConfig.
func NewThrottle(clk clock.Clock) *Throttle {
	return NewThrottleWith(clk, DefaultThrottleConfig)
}

// NewThrottleWith returns a throttle with an explicit policy; zero bounds take
// DefaultThrottleConfig's.
func NewThrottleWith(clk clock.Clock, cfg ThrottleConfig) *Throttle {
	if clk == nil {
		clk = clock.System{}
	}
	d := DefaultThrottleConfig
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = d.MaxKeys
	}
	if cfg.KnownPerAccount <= 0 {
		cfg.KnownPerAccount = d.KnownPerAccount
	}
	if cfg.KnownFor <= 0 {
		cfg.KnownFor = d.KnownFor
	}
	if cfg.MaxKnownAccounts <= 0 {
		cfg.MaxKnownAccounts = d.MaxKnownAccounts
	}
	t := &Throttle{clock: clk, cfg: cfg, seed: maphash.MakeSeed(), known: map[uint64][]knownAddr{}}
	for c, p := range [numClasses]ThrottlePolicy{classAddress: cfg.Address, classPair: cfg.Pair, classAccount: cfg.Account} {
		t.tables[c] = table{policy: p, entries: map[uint64]*throttleEntry{}}
	}
	return t
}

// normalize makes "Alice@Example.com" and "alice@example.com" one key, so case
// games do not multiply an attacker's allowance.
func normalize(key string) string { return strings.ToLower(strings.TrimSpace(key)) }

// normalizeAddress makes one key of each client: an IPv4 address (IPv4-mapped
// IPv6 included), or an IPv6 /64, the block one customer line gets, so cycling
// through one's own addresses buys no fresh allowance. Anything else (an empty
// address among them) is taken as it is: all such clients share one key.
func normalizeAddress(s string) string {
	if key, ok := ident.ClientAddress(strings.TrimSpace(s)); ok {
		return key
	}
	return normalize(s)
}

// Begin reserves one login attempt on account from address, before any password
// is checked, or returns a *ThrottledError with the longest wait of the keys that
// are locked or whose allowance attempts in flight already hold. After a nil
// error exactly one of done or refund must be called: done(ok) once the password
// was checked (ok: it was right), refund when it never was (the hasher was busy,
// the client left, the store failed), which gives the attempt back.
//
// A right password resets the pair and makes address known for the account; it
// does not reset the address (else an attacker with one valid account could
// clear the count of the address it guesses other accounts from) nor the
// account (else the victim's own logins would refill a distributed attacker's
// allowance). A wrong one counts against every key the attempt used.
func (t *Throttle) Begin(account, address string) (done func(ok bool), refund func(), err error) {
	now := t.clock.Now().UnixNano()
	acct, addr := normalize(account), normalizeAddress(address)
	var keys [numClasses]uint64
	keys[classAddress] = maphash.String(t.seed, "a\x00"+addr)
	keys[classPair] = maphash.String(t.seed, "p\x00"+acct+"\x00"+addr)
	keys[classAccount] = maphash.String(t.seed, "u\x00"+acct)

	t.mu.Lock()
	defer t.mu.Unlock()
	classes := numClasses
	if t.isKnown(keys[classAccount], keys[classAddress], now) {
		classes = classAccount // the account key does not apply to a known address
	}
	var held [numClasses]*throttleEntry
	var wait int64
	for c := range classes {
		if e := t.tables[c].find(keys[c], now, t.cfg.MaxKeys); e != nil {
			held[c] = e
			wait = max(wait, t.tables[c].wait(e, now))
		}
	}
	if wait > 0 {
		return nil, nil, &ThrottledError{Wait: time.Duration(wait)}
	}
	for c := range classes {
		if held[c] == nil {
			held[c] = &throttleEntry{}
			t.tables[c].entries[keys[c]] = held[c]
		}
		held[c].inflight++
	}
	a := &attempt{t: t, keys: keys, held: held}
	return a.done, a.refund, nil
}

// attempt is one reservation made by Begin.
type attempt struct {
	t     *Throttle
	keys  [numClasses]uint64
	held  [numClasses]*throttleEntry
	ended bool
}

func (a *attempt) done(ok bool) { a.end(true, ok) }
func (a *attempt) refund()      { a.end(false, false) }

func (a *attempt) end(checked, ok bool) {
	t := a.t
	now := t.clock.Now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	for c, e := range a.held {
		if e == nil {
			continue
		}
		tb := &t.tables[c]
		e.inflight--
		switch {
		case !checked:
		case !ok:
			tb.fail(e, now)
		case keyClass(c) == classPair && e != &tb.overflow:
			// The shared overflow key is never reset: one success must not clear
			// everyone else's failures.
			e.failures, e.locked = 0, 0
		}
		tb.tidy(a.keys[c], e, now)
	}
	if checked && ok {
		t.remember(a.keys[classAccount], a.keys[classAddress], now)
	}
}

// find returns the entry of key: its own, the shared overflow entry when the
// table is full of live keys, or nil when key is new and there is room for it.
func (tb *table) find(key uint64, now int64, maxKeys int) *throttleEntry {
	if e, ok := tb.entries[key]; ok {
		return e
	}
	if len(tb.entries) >= maxKeys && now-tb.pruned >= int64(pruneEvery) {
		tb.pruned = now
		for k, e := range tb.entries {
			tb.tidy(k, e, now)
		}
	}
	if len(tb.entries) >= maxKeys {
		return &tb.overflow
	}
	return nil
}

// forgotten reports whether e's failures are older than the policy remembers.
func (tb *table) forgotten(e *throttleEntry, now int64) bool {
	return e.failures > 0 && now-e.last >= int64(tb.policy.Forget) && now >= e.locked
}

// wait is how long e makes a new attempt wait, 0 if it may go ahead.
func (tb *table) wait(e *throttleEntry, now int64) int64 {
	if tb.forgotten(e, now) {
		e.failures = 0
	}
	if now < e.locked {
		return e.locked - now
	}
	if e.inflight > 0 && int(e.failures)+int(e.inflight) > tb.policy.Free {
		// The allowance is held by attempts still being checked: one of them
		// will fail (and lock) or succeed within a hash's time.
		return int64(max(tb.policy.Base, time.Second))
	}
	return 0
}

// fail counts a failure on e.
func (tb *table) fail(e *throttleEntry, now int64) {
	if tb.forgotten(e, now) {
		e.failures = 0
	}
	e.failures++
	e.last = now
	if over := int(e.failures) - tb.policy.Free; over > 0 {
		e.locked = max(e.locked, now+int64(backoff(tb.policy, over)))
	}
}

// tidy drops key's entry e when it holds nothing any more.
func (tb *table) tidy(key uint64, e *throttleEntry, now int64) {
	if e == &tb.overflow || e.inflight > 0 || now < e.locked {
		return
	}
	if e.failures == 0 || tb.forgotten(e, now) {
		delete(tb.entries, key)
	}
}

// isKnown reports whether account logged in from addr within KnownFor.
func (t *Throttle) isKnown(account, addr uint64, now int64) bool {
	for _, k := range t.known[account] {
		if k.addr == addr {
			return now-k.seen < int64(t.cfg.KnownFor)
		}
	}
	return false
}

// remember makes addr known for account, displacing the account's least recently
// seen address when it already has KnownPerAccount, and some other account's
// set when MaxKnownAccounts are remembered and none has expired.
func (t *Throttle) remember(account, addr uint64, now int64) {
	set, ok := t.known[account]
	if !ok && len(t.known) >= t.cfg.MaxKnownAccounts {
		t.pruneKnown(now)
		for k := range t.known {
			if len(t.known) < t.cfg.MaxKnownAccounts {
				break
			}
			delete(t.known, k)
		}
	}
	oldest := -1
	for i, k := range set {
		if k.addr == addr {
			set[i].seen = now
			return
		}
		if oldest < 0 || k.seen < set[oldest].seen {
			oldest = i
		}
	}
	if len(set) < t.cfg.KnownPerAccount {
		set = append(set, knownAddr{addr: addr, seen: now})
	} else {
		set[oldest] = knownAddr{addr: addr, seen: now}
	}
	t.known[account] = set
}

// pruneKnown drops the accounts whose every known address has expired, at most
// once per pruneEvery.
func (t *Throttle) pruneKnown(now int64) {
	if now-t.knownPruned < int64(pruneEvery) {
		return
	}
	t.knownPruned = now
	for acct, set := range t.known {
		live := false
		for _, k := range set {
			live = live || now-k.seen < int64(t.cfg.KnownFor)
		}
		if !live {
			delete(t.known, acct)
		}
	}
}

// Len is the number of keys tracked, over every class (for metrics and tests).
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for c := range t.tables {
		n += len(t.tables[c].entries)
	}
	return n
}

// KnownLen is the number of accounts with known addresses.
func (t *Throttle) KnownLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.known)
}

// backoff is Base * 2^(over-1), capped at Max.
func backoff(p ThrottlePolicy, over int) time.Duration {
	d := p.Base
	for i := 1; i < over && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}
