package ratelimit

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
)

// Rate allows N requests per Per on average, in bursts of up to Burst. The zero
// Rate (N = 0) limits nothing.
type Rate struct {
	N     int
	Per   time.Duration
	Burst int
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.N <= 0 }

// Spec is the rate as ParseRate reads it, without the burst: "5/1m", or "off".
func (r Rate) Spec() string {
	if r.Off() {
		return "off"
	}
	per := r.Per.String()
	switch {
	case r.Per%time.Hour == 0:
		per = fmt.Sprintf("%dh", r.Per/time.Hour)
	case r.Per%time.Minute == 0:
		per = fmt.Sprintf("%dm", r.Per/time.Minute)
	}
	return fmt.Sprintf("%d/%s", r.N, per)
}

// String describes the rate: "5/1m burst 5", or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%s burst %d", r.Spec(), r.Burst)
}

// ParseRate reads a rate as N/PER, PER being a Go duration ("5/1m", "100/1h",
// "1/10s") or a bare unit s, m or h ("5/m"); "off" or "0" limit nothing. burst is
// how many requests may come at once; 0 means N.
func ParseRate(spec string, burst int) (Rate, error) {
	spec = strings.TrimSpace(spec)
	if spec == "off" || spec == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(spec, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/PER such as 5/1m, or off", spec)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return Rate{}, fmt.Errorf("rate %q: N must be a positive integer", spec)
	}
	if per == "s" || per == "m" || per == "h" {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("rate %q: PER must be a positive duration such as 1m", spec)
	}
	if burst < 0 {
		return Rate{}, fmt.Errorf("rate %q: burst must not be negative", spec)
	}
	if burst == 0 {
		burst = count
	}
	return Rate{N: count, Per: d, Burst: burst}, nil
}

// DefaultMaxKeys bounds a Limiter's table: about a megabyte of addresses.
const DefaultMaxKeys = 10_000

// pruneEvery is how often a full table is swept for keys whose bucket refilled.
const pruneEvery = time.Second

// Limiter limits requests per key. Its table holds at most maxKeys keys; a key
// whose bucket has refilled is forgotten, which loses nothing since a new key
// starts with a full bucket. When the table is full of keys still being limited,
// every key not in it shares one overflow bucket of the same rate: under a spray
// of addresses new clients are limited together, conservatively, never let
// through unchecked.
type Limiter struct {
	clock    clock.Clock
	interval time.Duration // Per / N: one request's worth of time
	burst    time.Duration // Burst * interval
	maxKeys  int

	mu        sync.Mutex
	tat       map[string]time.Time // per key, when its bucket is full again (GCRA)
	overflow  time.Time
	lastPrune time.Time
}

// New returns a limiter of rate r with at most maxKeys keys (0: DefaultMaxKeys),
// or nil for a rate that is off; a nil *Limiter allows everything.
func New(clk clock.Clock, r Rate, maxKeys int) *Limiter {
	if r.Off() {
		return nil
	}
	if clk == nil {
		clk = clock.System{}
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	interval := r.Per / time.Duration(r.N)
	if interval <= 0 {
		interval = time.Nanosecond
	}
	burst := max(r.Burst, 1)
	return &Limiter{clock: clk, interval: interval, burst: time.Duration(burst) * interval, maxKeys: maxKeys, tat: map[string]time.Time{}}
}

// Allow takes one request's worth from key's bucket. When the bucket is empty it
// returns false and how long until the next request would be allowed.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, known := l.tat[key]
	if !known && len(l.tat) >= l.maxKeys {
		if now.Sub(l.lastPrune) >= pruneEvery || now.Before(l.lastPrune) {
			l.prune(now)
		}
		if len(l.tat) >= l.maxKeys {
			ok, wait, next := l.take(l.overflow, now)
			if ok {
				l.overflow = next
			}
			return ok, wait
		}
	}
	ok, wait, next := l.take(tat, now)
	if ok {
		l.tat[key] = next
	}
	return ok, wait
}

// take is one GCRA step of the limiter's rate.
func (l *Limiter) take(tat, now time.Time) (bool, time.Duration, time.Time) {
	return gcra(tat, now, l.interval, l.burst)
}

// gcra is one step of the generic cell rate algorithm: a bucket is the time at
// which it is full again (tat); a request takes interval from it and is allowed
// when the bucket then holds no more than burst of time. It returns whether the
// request is allowed, how long until it would be, and the bucket's new tat.
func gcra(tat, now time.Time, interval, burst time.Duration) (bool, time.Duration, time.Time) {
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if allowAt := next.Add(-burst); now.Before(allowAt) {
		return false, allowAt.Sub(now), tat
	}
	return true, 0, next
}

// prune forgets the keys whose bucket is full again.
func (l *Limiter) prune(now time.Time) {
	for k, tat := range l.tat {
		if !tat.After(now) {
			delete(l.tat, k)
		}
	}
	l.lastPrune = now
}

// Len is the number of keys held, for tests and metrics.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}

// ClientKey is the limiter key of a request's RemoteAddr ("host:port", as
// net/http and the Lambda adapter set it): the IPv4 address, or the /64 prefix of
// an IPv6 address, since one client commonly holds a whole /64. An address that
// does not parse is its own key (an empty one included, which all such requests
// then share).
func ClientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if key, ok := identity.ClientAddress(host); ok {
		return key
	}
	return host
}
