// A store cursor (events.Cursor, which on SQLite is a store-wide position) is
// sealed with AES-256-GCM before it leaves the API and opened when it comes
// back (docs/ARCHITECTURE.md, "API cursors").

package cursorseal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tenantstream/tenantstream/events"
)

// version is the first byte of every sealed cursor; a new layout takes a new value.
const version byte = 1

// MinMaterial is the shortest key material accepted (characters of a secret
// string): enough that even a hand-made alphanumeric value carries about 190 bits.
const MinMaterial = 32

// block is the padding unit of the plaintext, so the sealed length says
// nothing about how many digits a position has: every SQLite cursor
// ("p1." and up to 19 digits) pads to one block.
const block = 32

const (
	nonceSize = 12
	tagSize   = 16
	header    = 2 + nonceSize // version, key id, nonce
)

// ad is the fixed part of the additional data: what a sealed value is for, so
// a future sealed value of another kind can never be taken for an event cursor.
const ad = "tenantstream event-log cursor\x00"

// ErrInvalid is returned for any cursor that does not open: malformed,
// tampered, truncated, sealed for another tenant or with an unknown key.
var ErrInvalid = errors.New("cursorseal: invalid cursor")

// Key is one AES-256 key with its one-byte id. The id only picks the keys worth
// trying; a collision between the current and a previous key costs one more try.
type Key struct {
	id   byte
	aead cipher.AEAD
	mac  []byte // the API-key hash sub-key (APIKeyHashes)
	tok  []byte // the token sub-key (TokenHashes, DerivedSecrets)
}

// ID returns the key's id byte (derived from the key, never stored).
func (k Key) ID() byte { return k.id }

// NewKey derives an AES-256 key from key material: a secret string of at least
// MinMaterial characters (the local key file, the Secrets Manager secret). HKDF
// lets the material be any high-entropy text rather than exactly 32 raw bytes.
func NewKey(material string) (Key, error) {
	if len(material) < MinMaterial {
		return Key{}, fmt.Errorf("cursor key: want at least %d characters of key material, have %d", MinMaterial, len(material))
	}
	raw, err := hkdf.Key(sha256.New, []byte(material), nil, "tenantstream event-log cursor key v1", 32)
	if err != nil {
		return Key{}, fmt.Errorf("cursor key: %w", err)
	}
	c, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("cursor key: %w", err)
	}
	aead, err := cipher.NewGCM(c)
	if err != nil {
		return Key{}, fmt.Errorf("cursor key: %w", err)
	}
	id := sha256.Sum256(append([]byte("tenantstream event-log cursor key id\x00"), raw...))
	// A separate HKDF output for API-key hashes, so no key is used for two
	// purposes (docs/ARCHITECTURE.md, "API keys").
	mac, err := hkdf.Key(sha256.New, []byte(material), nil, "tenantstream api-key secret hash v1", 32)
	if err != nil {
		return Key{}, fmt.Errorf("cursor key: %w", err)
	}
	tok, err := hkdf.Key(sha256.New, []byte(material), nil, "tenantstream token key v1", 32)
	if err != nil {
		return Key{}, fmt.Errorf("cursor key: %w", err)
	}
	return Key{id: id[0], aead: aead, mac: mac, tok: tok}, nil
}

// NewMaterial returns fresh random key material (32 random bytes, base64url).
func NewMaterial() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Sealer seals with its current key and opens with it or any previous key, so
// cursors handed out before a key rotation keep working. It is safe for
// concurrent use.
type Sealer struct {
	keys []Key // keys[0] seals
}

// New returns a sealer that seals with current and also opens what previous
// keys sealed.
func New(current Key, previous ...Key) *Sealer {
	if current.aead == nil {
		panic("cursorseal: New needs a key from NewKey")
	}
	return &Sealer{keys: append([]Key{current}, previous...)}
}

// Ephemeral returns a sealer with a random key: its cursors are opaque but do
// not survive the process. For tests and for a Service nobody gave a key.
func Ephemeral() *Sealer {
	k, err := NewKey(NewMaterial())
	if err != nil {
		panic(err) // fresh material is always long enough
	}
	return New(k)
}

// APIKeyHashes returns HMAC-SHA256 of an API key's id and secret under the
// API-key sub-key of each key, the current key's first: a key is stored with
// the first and verified against any, so keys made before a rotation keep
// working while their key is the previous one (docs/ARCHITECTURE.md, "API keys").
func (s *Sealer) APIKeyHashes(keyID, secret string) [][]byte {
	out := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		m := hmac.New(sha256.New, k.mac)
		m.Write([]byte(keyID))
		m.Write([]byte{0})
		m.Write([]byte(secret))
		out[i] = m.Sum(nil)
	}
	return out
}

// TokenHashes returns HMAC-SHA256 of a token's kind, id and secret under the
// token sub-key of each key, the current key's first (as APIKeyHashes): the
// stored form of refresh tokens (docs/ARCHITECTURE.md, decision 15).
func (s *Sealer) TokenHashes(kind, id, secret string) [][]byte {
	out := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		out[i] = tokenMAC(k.tok, "hash", kind, id, secret)
	}
	return out
}

// DerivedSecrets returns the secret of a one-time token (an invitation's, a
// password reset's) derived from its kind, tenant and id under each key, the
// current key's first. Nothing of it is stored: the notification that carries
// the token derives it, and the accept step derives it again to compare.
func (s *Sealer) DerivedSecrets(kind, tenant, id string) [][]byte {
	out := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		out[i] = tokenMAC(k.tok, "derive", kind, tenant, id)[:20]
	}
	return out
}

func tokenMAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func additionalData(tenant events.TenantID, keyID byte) []byte {
	b := make([]byte, 0, len(ad)+2+len(tenant))
	b = append(b, ad...)
	b = append(b, version, keyID)
	return append(b, tenant...)
}

// Seal returns the API form of a store cursor for tenant: base64url (no
// padding) of version, key id, a random nonce and the GCM-sealed, padded
// cursor. The same position seals differently every time, so a client polling
// the tail cannot even tell whether anything was appended anywhere.
func (s *Sealer) Seal(tenant events.TenantID, c events.Cursor) string {
	k := s.keys[0]
	n := (len(c)/block + 1) * block // room for the 0x80 marker
	raw := make([]byte, header, header+n+tagSize)
	raw[0], raw[1] = version, k.id
	_, _ = rand.Read(raw[2:header])
	pt := make([]byte, n)
	copy(pt, c)
	pt[len(c)] = 0x80 // ISO/IEC 7816-4 padding: the marker, then zeros
	raw = k.aead.Seal(raw, raw[2:header], pt, additionalData(tenant, k.id))
	return base64.RawURLEncoding.EncodeToString(raw)
}

// Open returns the store cursor a sealed cursor of tenant carries. Anything
// else, including a cursor sealed for another tenant, is ErrInvalid.
func (s *Sealer) Open(tenant events.TenantID, sealed string) (events.Cursor, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	if err != nil || len(raw) < header+block+tagSize || raw[0] != version || (len(raw)-header-tagSize)%block != 0 {
		return "", ErrInvalid
	}
	nonce, body := raw[2:header], raw[header:]
	for _, k := range s.keys {
		if k.id != raw[1] {
			continue
		}
		pt, err := k.aead.Open(nil, nonce, body, additionalData(tenant, k.id))
		if err != nil {
			continue
		}
		return unpad(pt)
	}
	return "", ErrInvalid
}

func unpad(pt []byte) (events.Cursor, error) {
	for i := len(pt) - 1; i >= 0; i-- {
		switch pt[i] {
		case 0:
		case 0x80:
			return events.Cursor(pt[:i]), nil
		default:
			return "", ErrInvalid
		}
	}
	return "", ErrInvalid
}
