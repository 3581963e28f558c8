package shred

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/tenantstream/tenantstream/events"
)

// MemoryKeyring keeps data keys in memory: for tests and the in-memory
// platform. Keys die with the process.
type MemoryKeyring struct {
	mu     sync.Mutex
	keys   map[events.TenantID]Key
	erased map[events.TenantID]bool
	// Fixed, when set, is the secret of every key it creates (golden tests).
	Fixed []byte
}

var _ Keyring = (*MemoryKeyring)(nil)

// NewMemoryKeyring returns an empty MemoryKeyring.
func NewMemoryKeyring() *MemoryKeyring {
	return &MemoryKeyring{keys: map[events.TenantID]Key{}, erased: map[events.TenantID]bool{}}
}

// Current implements Keyring.
func (m *MemoryKeyring) Current(_ context.Context, tenant events.TenantID) (Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.erased[tenant] {
		return Key{}, ErrErased
	}
	if k, ok := m.keys[tenant]; ok {
		return k, nil
	}
	k := Key{ID: "m1", Secret: make([]byte, KeySize)}
	if m.Fixed != nil {
		copy(k.Secret, m.Fixed)
	} else {
		id := make([]byte, 4)
		if _, err := rand.Read(k.Secret); err != nil {
			return Key{}, err
		}
		if _, err := rand.Read(id); err != nil {
			return Key{}, err
		}
		k.ID = hex.EncodeToString(id)
	}
	m.keys[tenant] = k
	return k, nil
}

// Get implements Keyring.
func (m *MemoryKeyring) Get(_ context.Context, tenant events.TenantID, id string) (Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.erased[tenant] {
		return Key{}, ErrErased
	}
	k, ok := m.keys[tenant]
	if !ok || k.ID != id {
		return Key{}, fmt.Errorf("%w %q of %s", ErrUnknownKey, id, tenant)
	}
	return k, nil
}

// Destroy implements Keyring.
func (m *MemoryKeyring) Destroy(_ context.Context, tenant events.TenantID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, tenant)
	m.erased[tenant] = true
	return nil
}
