package identity

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
)

// ThrottlePolicy says how failures on one key are slowed down: after Free failures
// each further failure locks the key for Base, doubling up to Max. A key with no
// failure for Forget starts over.
type ThrottlePolicy struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration
}

// Default policies. Accounts get a small allowance; client IPs a larger one since
// users behind one NAT share it. The cap bounds how long an attacker can lock a
// victim out by failing on purpose.
var (
	DefaultAccountPolicy = ThrottlePolicy{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour}
	DefaultIPPolicy      = ThrottlePolicy{Free: 50, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour}
)

// IPKeyPrefix marks a throttle key as a client IP: it uses the IP policy and is not
// reset by a successful login (else an attacker with one valid account could clear
// the counter of the IP it guesses other accounts from).
const IPKeyPrefix = "ip:"

// maxThrottleKeys bounds memory under a spray of distinct keys.
const maxThrottleKeys = 100_000

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

// Unwrap gives the client-facing error, the same for account and IP locks so a
// lock does not reveal whether an account exists.
func (e *ThrottledError) Unwrap() error {
	return &domain.Error{Code: domain.CodeRateLimited, Message: "Too many failed login attempts; retry later."}
}

type throttleEntry struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

// Throttle slows down repeated login failures per key, in memory.
type Throttle struct {
	clock   clock.Clock
	account ThrottlePolicy
	ip      ThrottlePolicy

	mu      sync.Mutex
	entries map[string]*throttleEntry
}

// NewThrottle returns a throttle using clk and the default policies.
func NewThrottle(clk clock.Clock) *Throttle {
	return NewThrottleWith(clk, DefaultAccountPolicy, DefaultIPPolicy)
}

// NewThrottleWith returns a throttle with explicit policies.
func NewThrottleWith(clk clock.Clock, account, ip ThrottlePolicy) *Throttle {
	if clk == nil {
		clk = clock.System{}
	}
	return &Throttle{clock: clk, account: account, ip: ip, entries: map[string]*throttleEntry{}}
}

func (t *Throttle) policy(key string) ThrottlePolicy {
	if strings.HasPrefix(key, IPKeyPrefix) {
		return t.ip
	}
	return t.account
}

// normalize makes "Alice@Example.com" and "alice@example.com" one key, so case
// games do not multiply an attacker's allowance.
func normalize(key string) string { return strings.ToLower(strings.TrimSpace(key)) }

// Check returns a *ThrottledError if any key is locked now, with the longest wait.
func (t *Throttle) Check(keys ...string) error {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if e, ok := t.entries[normalize(k)]; ok && now.Before(e.lockedUntil) {
			wait = max(wait, e.lockedUntil.Sub(now))
		}
	}
	if wait > 0 {
		return &ThrottledError{Wait: wait}
	}
	return nil
}

// Failure records a failed login for every key.
func (t *Throttle) Failure(keys ...string) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) >= maxThrottleKeys {
		t.prune(now)
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		nk := normalize(k)
		p := t.policy(nk)
		e, ok := t.entries[nk]
		if !ok {
			if len(t.entries) >= maxThrottleKeys {
				continue // full of live entries: fail open rather than grow without bound
			}
			e = &throttleEntry{}
			t.entries[nk] = e
		}
		if !e.lastFailure.IsZero() && now.Sub(e.lastFailure) >= p.Forget {
			*e = throttleEntry{}
		}
		e.failures++
		e.lastFailure = now
		if over := e.failures - p.Free; over > 0 {
			e.lockedUntil = now.Add(backoff(p, over))
		}
	}
}

// Success forgets the failures of the account keys; IP keys keep theirs.
func (t *Throttle) Success(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		nk := normalize(k)
		if !strings.HasPrefix(nk, IPKeyPrefix) {
			delete(t.entries, nk)
		}
	}
}

// Len is the number of keys tracked (for metrics and tests).
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// prune drops entries that are neither locked nor remembered any more.
func (t *Throttle) prune(now time.Time) {
	for k, e := range t.entries {
		if !now.Before(e.lockedUntil) && now.Sub(e.lastFailure) >= t.policy(k).Forget {
			delete(t.entries, k)
		}
	}
}

// backoff is Base * 2^(over-1), capped at Max.
func backoff(p ThrottlePolicy, over int) time.Duration {
	d := p.Base
	for i := 1; i < over && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}
