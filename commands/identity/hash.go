package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/tenantstream/tenantstream/domain"
)

// HashParams are argon2id's cost parameters.
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   uint32
	KeyLen    uint32
}

// DefaultHashParams follow OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane):
// memory-hard enough to make offline guessing expensive while a login stays well
// under 100 ms on one core.
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters read back from a stored hash, so a corrupted or planted hash
// cannot make one login allocate gigabytes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 16
	maxKeyLen    = 128
	maxSaltLen   = 64
)

// ErrMalformedHash means a stored hash is not an argon2id PHC string we can verify.
var ErrMalformedHash = errors.New("identity: malformed password hash")

// HashLimits bound the memory all of a Hasher's calls hold at once. Every Hash and
// Verify holds its argon2id memory cost (19 MiB with the defaults) while it runs;
// a call that finds no room waits up to MaxWait, then fails with a *BusyError.
type HashLimits struct {
	// MemoryBudget is the most memory, in bytes, that argon2id may hold across
	// concurrent calls. 0: DefaultHashMemoryBudget, or a third of the Go memory
	// limit (GOMEMLIMIT) when that is lower. At least one call always fits.
	MemoryBudget int64
	// MaxWait is how long a call waits for room; 0: DefaultHashMaxWait.
	MaxWait time.Duration
}

// Hash limit defaults. 160 MiB fits 8 default-cost hashes: on 2 cores that keeps
// both busy while bounding the memory a burst of logins can take. With the
// garbage the finished calls leave (see reclaim), argon2id holds up to about 1.5
// budgets, so a third of the memory limit, when one is set, keeps it to half.
// Waiting 2 s lets a short burst queue (a default hash takes about 30 ms of one
// core) and turns a flood into quick 503s.
const (
	DefaultHashMemoryBudget = 160 << 20
	DefaultHashMaxWait      = 2 * time.Second
)

// busyRetryAfter is the Retry-After of a *BusyError.
const busyRetryAfter = time.Second

// BusyError says a password could not be hashed or checked because the hasher's
// memory budget stayed full for its MaxWait. It unwraps to an unavailable
// domain.Error (503) and carries a Retry-After. No password was checked.
type BusyError struct {
	Wait time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("identity: password hashing busy for %s", e.Wait)
}

// RetryAfter is how long to wait before trying again.
func (e *BusyError) RetryAfter() time.Duration { return busyRetryAfter }

// Unwrap gives the client-facing error.
func (e *BusyError) Unwrap() error {
	return &domain.Error{Code: domain.CodeUnavailable, Message: "The server is busy checking passwords; retry shortly."}
}

// Hasher hashes passwords with argon2id in PHC string format. Every call runs
// under a memory budget (HashLimits), so concurrent logins, onboardings and user
// creations cannot together allocate more than it.
type Hasher struct {
	params  HashParams
	dummy   PHC // a hash of a random password, verified when the user is unknown
	gate    *memGate
	maxWait time.Duration

	// garbage is the argon2id memory (KiB) released since the last collection
	// this hasher asked for; collecting is whether one is running.
	garbage    atomic.Int64
	collecting atomic.Bool
}

// NewHasher returns a hasher with p (zero fields take DefaultHashParams' values)
// and the default limits.
func NewHasher(p HashParams) (*Hasher, error) {
	return NewHasherWithLimits(p, HashLimits{})
}

// DefaultMemoryBudget is the budget a zero HashLimits.MemoryBudget means: the
// default, or a third of the Go memory limit when one is set and lower.
func DefaultMemoryBudget() int64 {
	budget := int64(DefaultHashMemoryBudget)
	if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
		budget = min(budget, limit/3)
	}
	return budget
}

// NewHasherWithLimits returns a hasher with p and explicit limits.
func NewHasherWithLimits(p HashParams, l HashLimits) (*Hasher, error) {
	d := DefaultHashParams
	if p.MemoryKiB == 0 {
		p.MemoryKiB = d.MemoryKiB
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	if p.MemoryKiB > maxMemoryKiB || p.Time > maxTime || p.KeyLen > maxKeyLen || p.SaltLen > maxSaltLen || p.SaltLen < 8 || p.KeyLen < 16 {
		return nil, fmt.Errorf("new hasher: parameters out of range: %+v", p)
	}
	if l.MemoryBudget < 0 || l.MaxWait < 0 {
		return nil, fmt.Errorf("new hasher: negative limits: %+v", l)
	}
	if l.MemoryBudget == 0 {
		l.MemoryBudget = DefaultMemoryBudget()
	}
	if l.MaxWait == 0 {
		l.MaxWait = DefaultHashMaxWait
	}
	// At least one call of the hasher's own cost fits, however small the budget.
	budgetKiB := max(l.MemoryBudget>>10, int64(p.MemoryKiB))
	h := &Hasher{params: p, gate: newMemGate(budgetKiB), maxWait: l.MaxWait}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("new hasher: %w", err)
	}
	dummy, err := h.Hash(base64.RawStdEncoding.EncodeToString(secret))
	if err != nil {
		return nil, fmt.Errorf("new hasher: dummy hash: %w", err)
	}
	if h.dummy, err = ParsePHC(dummy); err != nil {
		return nil, fmt.Errorf("new hasher: dummy hash: %w", err)
	}
	return h, nil
}

// Concurrency is how many calls of the hasher's own cost run at once.
func (h *Hasher) Concurrency() int {
	return int(h.gate.size / h.gate.weight(int64(h.params.MemoryKiB)))
}

// enter waits for room for a call costing memKiB: up to MaxWait, less if ctx ends
// first. It returns the release function, or a *BusyError or ctx's error.
func (h *Hasher) enter(ctx context.Context, memKiB uint32) (func(), error) {
	n := h.gate.weight(int64(memKiB))
	wctx, cancel := context.WithTimeout(ctx, h.maxWait)
	defer cancel()
	if err := h.gate.acquire(wctx, n); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &BusyError{Wait: h.maxWait}
	}
	return func() {
		h.reclaim(int64(memKiB))
		h.gate.release(n)
	}, nil
}

// reclaimAtLeast is the least garbage worth a collection: below it the
// pacer does well enough, and tests with cheap hashes never pay for one.
const reclaimAtLeast = 32 << 10 // KiB

// reclaim bounds the garbage finished calls leave; a call runs it just before
// giving back its room. Each call allocates its whole memory cost and drops it
// at once; left to the pacer (GOGC=300 in the server), those buffers would pile
// up to several times the budget before a collection, which is what the budget
// is there to prevent. So once half the budget (and at least reclaimAtLeast)
// has been dropped, a collector queues for the whole budget ahead of every
// waiter (the calls in flight finish, nothing new starts), collects, and lets
// the queue go: what argon2id holds, live or garbage, stays near 1.5 budgets.
// The buffers hold no pointers, so the collection costs little next to the
// hashes that made the garbage. One runs at a time, in the background.
func (h *Hasher) reclaim(memKiB int64) {
	if h.garbage.Add(memKiB) < max(h.gate.size/2, reclaimAtLeast) || !h.collecting.CompareAndSwap(false, true) {
		return
	}
	ready := h.gate.reserveFirst(h.gate.size)
	go func() {
		<-ready
		h.garbage.Store(0)
		runtime.GC()
		h.gate.release(h.gate.size)
		h.collecting.Store(false)
	}()
}

// Hash returns the PHC string $argon2id$v=19$m=M,t=T,p=P$salt$key of password.
// It waits up to MaxWait for room in the memory budget.
func (h *Hasher) Hash(password string) (string, error) {
	return h.HashContext(context.Background(), password)
}

// HashContext is Hash, giving up early when ctx ends.
func (h *Hasher) HashContext(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	release, err := h.enter(ctx, h.params.MemoryKiB)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	defer release()
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, h.params.KeyLen)
	return encodePHC(PHC{Params: h.params, Salt: salt, Key: key}), nil
}

// Verify reports whether password matches the stored hash encoded. An empty
// encoded (unknown user) verifies against a dummy hash with the same cost and
// returns false, so unknown users and wrong passwords take the same time and give
// the same answer. It waits up to MaxWait for room in the memory budget; a
// *BusyError means no password was checked.
func (h *Hasher) Verify(password, encoded string) (bool, error) {
	return h.VerifyContext(context.Background(), password, encoded)
}

// VerifyContext is Verify, giving up early when ctx ends.
func (h *Hasher) VerifyContext(ctx context.Context, password, encoded string) (bool, error) {
	p, perr := h.dummy, error(nil)
	if encoded != "" {
		if p, perr = ParsePHC(encoded); perr != nil {
			// Still spend the work: a broken hash must not be distinguishable by timing.
			p = h.dummy
		}
	}
	release, err := h.enter(ctx, p.Params.MemoryKiB)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	defer release()
	key := argon2.IDKey([]byte(password), p.Salt, p.Params.Time, p.Params.MemoryKiB, p.Params.Threads, uint32(len(p.Key)))
	ok := subtle.ConstantTimeCompare(key, p.Key) == 1
	switch {
	case perr != nil:
		return false, fmt.Errorf("verify password: %w", perr)
	case encoded == "":
		return false, nil
	}
	return ok, nil
}

// NeedsRehash reports whether encoded was made with other parameters than h's, so
// a successful login can upgrade it.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, err := ParsePHC(encoded)
	if err != nil {
		return true
	}
	return p.Params.MemoryKiB != h.params.MemoryKiB || p.Params.Time != h.params.Time ||
		p.Params.Threads != h.params.Threads || uint32(len(p.Key)) != h.params.KeyLen
}

// PHC is a parsed argon2id hash.
type PHC struct {
	Params HashParams
	Salt   []byte
	Key    []byte
}

func encodePHC(p PHC) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.Params.MemoryKiB, p.Params.Time, p.Params.Threads, b64.EncodeToString(p.Salt), b64.EncodeToString(p.Key))
}

// ParsePHC parses an argon2id PHC string, rejecting other algorithms, versions and
// out-of-range parameters.
func ParsePHC(s string) (PHC, error) {
	if len(s) > 512 {
		return PHC{}, fmt.Errorf("%w: too long", ErrMalformedHash)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return PHC{}, fmt.Errorf("%w: want 5 $-separated fields", ErrMalformedHash)
	}
	if parts[1] != "argon2id" {
		return PHC{}, fmt.Errorf("%w: algorithm %q is not argon2id", ErrMalformedHash, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return PHC{}, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	var p PHC
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return PHC{}, fmt.Errorf("%w: bad parameter %q", ErrMalformedHash, kv)
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return PHC{}, fmt.Errorf("%w: parameter %q: %v", ErrMalformedHash, k, err)
		}
		switch k {
		case "m":
			p.Params.MemoryKiB = uint32(n)
		case "t":
			p.Params.Time = uint32(n)
		case "p":
			if n > 255 {
				return PHC{}, fmt.Errorf("%w: parallelism %d", ErrMalformedHash, n)
			}
			p.Params.Threads = uint8(n)
		default:
			return PHC{}, fmt.Errorf("%w: unknown parameter %q", ErrMalformedHash, k)
		}
	}
	if len(seen) != 3 {
		return PHC{}, fmt.Errorf("%w: want m, t and p", ErrMalformedHash)
	}
	if p.Params.Time < 1 || p.Params.Time > maxTime || p.Params.Threads < 1 ||
		p.Params.MemoryKiB < 8*uint32(p.Params.Threads) || p.Params.MemoryKiB > maxMemoryKiB {
		return PHC{}, fmt.Errorf("%w: parameters out of range", ErrMalformedHash)
	}
	var err error
	if p.Salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(p.Salt) < 8 || len(p.Salt) > maxSaltLen {
		return PHC{}, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	if p.Key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(p.Key) < 16 || len(p.Key) > maxKeyLen {
		return PHC{}, fmt.Errorf("%w: bad key", ErrMalformedHash)
	}
	p.Params.SaltLen = uint32(len(p.Salt))
	p.Params.KeyLen = uint32(len(p.Key))
	return p, nil
}
