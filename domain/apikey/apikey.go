// Package apikey is the format of a tenant's machine credentials (API keys) and
// their stored events (docs/ARCHITECTURE.md, "API keys"). It is pure: no I/O
// beyond the random source a caller passes to New.
package apikey

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"time"
)

// Prefix starts every key, so a key is recognisable in a config file or a leak
// scanner and the authenticator can send it to the key verifier without trying
// it as a JWT.
const Prefix = "tsk_live_"

// Lengths of the parts of a key, in base32 characters (lowercase RFC 4648
// alphabet, no padding): the id (10 random bytes), the secret (20 random bytes,
// 160 bits) and the CRC-32 checksum of everything before it (4 bytes).
const (
	IDLen       = 16
	secretLen   = 32
	checksumLen = 7
	// Len is the length of every key.
	Len = len(Prefix) + IDLen + secretLen + checksumLen
)

var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformed is any string that is not a well-formed key (wrong prefix,
// length, alphabet or checksum). It is decided without a lookup.
var ErrMalformed = errors.New("apikey: malformed key")

// Scopes a key can hold. A user's token holds every scope; a key only those it
// was created with.
const (
	ScopeUsageWrite  = "usage:write"
	ScopeDataRead    = "data:read"
	ScopeDataWrite   = "data:write"
	ScopeBillingRead = "billing:read"
)

// Scopes lists every scope, in the order the API documents them.
var Scopes = []string{ScopeUsageWrite, ScopeDataRead, ScopeDataWrite, ScopeBillingRead}

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool {
	for _, v := range Scopes {
		if v == s {
			return true
		}
	}
	return false
}

// Key is a parsed key: its public id and its secret.
type Key struct {
	ID     string
	Secret string
}

// String is the key as the client holds it: prefix, id, secret, checksum.
func (k Key) String() string {
	body := Prefix + k.ID + k.Secret
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], crc32.ChecksumIEEE([]byte(body)))
	return body + enc.EncodeToString(c[:])
}

// New makes a key from rand (crypto/rand.Reader outside tests).
func New(rand io.Reader) (Key, error) {
	var b [30]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return Key{}, err
	}
	return Key{ID: enc.EncodeToString(b[:10]), Secret: enc.EncodeToString(b[10:])}, nil
}

// LooksLike reports whether token is meant as an API key (it has the prefix),
// well-formed or not; such a token is never tried as a JWT.
func LooksLike(token string) bool { return strings.HasPrefix(token, Prefix) }

// Parse checks a key's form and checksum and splits it. A typo (a changed,
// missing or extra character) fails here, before any store is read.
func Parse(token string) (Key, error) {
	if len(token) != Len || !strings.HasPrefix(token, Prefix) {
		return Key{}, ErrMalformed
	}
	rest := token[len(Prefix):]
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return Key{}, ErrMalformed
		}
	}
	sum, err := enc.DecodeString(rest[IDLen+secretLen:])
	if err != nil || len(sum) != 4 {
		return Key{}, ErrMalformed
	}
	k := Key{ID: rest[:IDLen], Secret: rest[IDLen : IDLen+secretLen]}
	if binary.BigEndian.Uint32(sum) != crc32.ChecksumIEEE([]byte(token[:len(token)-checksumLen])) || k.String() != token {
		return Key{}, ErrMalformed
	}
	return k, nil
}

// ValidID reports whether id has the form of a key id (for paths).
func ValidID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Stable event type names. Never rename: they are stored.
const (
	// TypeRegistered is the platform index entry of a key id: which tenant holds it.
	TypeRegistered = "api_key.registered"
	TypeCreated    = "api_key.created"
	TypeRevoked    = "api_key.revoked"
)

// Streams.
const (
	// StreamID is the tenant's stream of its keys' created and revoked events.
	StreamID   = "api-keys"
	StreamType = "api_keys"
	// IndexStreamType is the type of the platform's IndexStreamID streams.
	IndexStreamType = "api_key_index"
)

// IndexStreamID is the platform stream naming the tenant of key id.
func IndexStreamID(id string) string { return "api-key-" + id }

// Registered claims a key id for a tenant, in the platform partition, so a key
// (which names no tenant) can be looked up by its id.
type Registered struct {
	KeyID    string    `json:"key_id"`
	TenantID string    `json:"tenant_id"`
	At       time.Time `json:"at"`
}

// Created records a key. SecretHash is HMAC-SHA256 of the secret under a server
// key (hex); the secret itself is never stored.
type Created struct {
	KeyID      string     `json:"key_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	SecretHash string     `json:"secret_hash"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// Revoked ends a key at once.
type Revoked struct {
	KeyID string    `json:"key_id"`
	At    time.Time `json:"at"`
}
