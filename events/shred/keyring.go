package shred

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tenantstream/tenantstream/events"
)

// ErrErased is returned for a tenant whose data key was destroyed: nothing can
// be sealed for it any more, and its sealed fields read as null.
var ErrErased = errors.New("the tenant's data key was destroyed (erased)")

// KeySize is the size of a data key: AES-256.
const KeySize = 32

// Key is a tenant data key in the clear, as a Keyring hands it out.
type Key struct {
	// ID names the key inside the tenant (it is stored with every ciphertext,
	// so a tenant may later have several: rotation, per-subject keys).
	ID     string
	Secret []byte
}

// Keyring keeps each tenant's data key wrapped by a key-encryption key, in a
// place erasure can destroy: never in the event log, whose backups are kept.
type Keyring interface {
	// Current returns the tenant's data key, creating it on first use.
	// Errors: ErrErased once the tenant's keys are destroyed.
	Current(ctx context.Context, tenant events.TenantID) (Key, error)
	// Get returns the tenant's data key with id. Errors: ErrErased once the
	// tenant's keys are destroyed; ErrUnknownKey for an id the tenant never had.
	Get(ctx context.Context, tenant events.TenantID, id string) (Key, error)
	// Destroy destroys every data key of the tenant for good; it is
	// idempotent, and Current never creates one for the tenant again.
	Destroy(ctx context.Context, tenant events.TenantID) error
}

// ErrUnknownKey is returned for a key id the tenant has no key for.
var ErrUnknownKey = errors.New("unknown data key")

// prepare turns a Key into the AEAD and the hash key seal needs.
func prepare(k Key) (*dataKey, error) {
	if len(k.Secret) != KeySize || k.ID == "" {
		return nil, fmt.Errorf("shred: data key %q: want %d bytes", k.ID, KeySize)
	}
	block, err := aes.NewCipher(k.Secret)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	hash, err := hkdf.Key(sha256.New, k.Secret, nil, "tenantstream sealed value hash v1", 32)
	if err != nil {
		return nil, err
	}
	return &dataKey{id: k.ID, aead: aead, hash: hash}, nil
}
