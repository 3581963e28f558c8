package member

import (
	"encoding/base32"
	"errors"
	"io"
	"strings"
)

// Prefixes of the one-time and refresh tokens, so a leaked one is recognisable
// (and secret scanners can find it) and a token of one kind never passes as another.
const (
	RefreshPrefix    = "tsr_"
	InvitationPrefix = "tsi_"
	ResetPrefix      = "tsp_"
)

// secretLen is a token secret's length in base32 characters (20 random bytes, 160 bits).
const secretLen = 32

var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformedToken is any string that is not a well-formed token of the kind asked.
var ErrMalformedToken = errors.New("member: malformed token")

// Token is a bearer secret that names where its state lives: the tenant and the
// id of its stream. Only a keyed hash of Secret is ever stored.
type Token struct {
	Prefix string
	Tenant string
	ID     string
	Secret string
}

// NewToken returns a token of kind prefix with a fresh secret read from random.
func NewToken(random io.Reader, prefix, tenant, id string) (Token, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(random, b); err != nil {
		return Token{}, err
	}
	return Token{Prefix: prefix, Tenant: tenant, ID: id, Secret: enc.EncodeToString(b)}, nil
}

// String is the token as handed out: prefix, tenant, id and secret joined by dots.
func (t Token) String() string { return t.Prefix + t.Tenant + "." + t.ID + "." + t.Secret }

// ParseToken parses a token of kind prefix without any lookup.
func ParseToken(prefix, s string) (Token, error) {
	if len(s) > 256 || !strings.HasPrefix(s, prefix) {
		return Token{}, ErrMalformedToken
	}
	parts := strings.Split(s[len(prefix):], ".")
	if len(parts) != 3 || !idChars(parts[0]) || !idChars(parts[1]) || len(parts[2]) != secretLen {
		return Token{}, ErrMalformedToken
	}
	if _, err := enc.DecodeString(parts[2]); err != nil {
		return Token{}, ErrMalformedToken
	}
	return Token{Prefix: prefix, Tenant: parts[0], ID: parts[1], Secret: parts[2]}, nil
}

// idChars accepts the characters of tenant and stream ids (UUIDs here).
func idChars(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// EncodeSecret is the token form of 20 secret bytes (a derived secret).
func EncodeSecret(b []byte) string { return enc.EncodeToString(b) }
