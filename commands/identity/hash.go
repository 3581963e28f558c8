package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
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

// Hasher hashes passwords with argon2id in PHC string format.
type Hasher struct {
	params HashParams
	dummy  string // a hash of a random password, verified when the user is unknown
}

// NewHasher returns a hasher with p (zero fields take DefaultHashParams' values).
func NewHasher(p HashParams) (*Hasher, error) {
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
	h := &Hasher{params: p}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("new hasher: %w", err)
	}
	dummy, err := h.Hash(base64.RawStdEncoding.EncodeToString(secret))
	if err != nil {
		return nil, fmt.Errorf("new hasher: dummy hash: %w", err)
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string $argon2id$v=19$m=M,t=T,p=P$salt$key of password.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, h.params.KeyLen)
	return encodePHC(PHC{Params: h.params, Salt: salt, Key: key}), nil
}

// Verify reports whether password matches the stored hash encoded. An empty
// encoded (unknown user) verifies against a dummy hash with the same cost and
// returns false, so unknown users and wrong passwords take the same time and give
// the same answer.
func (h *Hasher) Verify(password, encoded string) (bool, error) {
	if encoded == "" {
		_, _ = h.verify(password, h.dummy)
		return false, nil
	}
	ok, err := h.verify(password, encoded)
	if err != nil {
		// Still spend the work: a broken hash must not be distinguishable by timing.
		_, _ = h.verify(password, h.dummy)
		return false, fmt.Errorf("verify password: %w", err)
	}
	return ok, nil
}

func (h *Hasher) verify(password, encoded string) (bool, error) {
	p, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.Salt, p.Params.Time, p.Params.MemoryKiB, p.Params.Threads, uint32(len(p.Key)))
	return subtle.ConstantTimeCompare(key, p.Key) == 1, nil
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
