package shred

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/tenantstream/tenantstream/events"
)

// KeysDir is the local keystore's directory inside the data directory. It is
// kept apart from the SQLite files so that a backup of the stores holds only
// ciphertext (docs/data-protection.md).
const KeysDir = "keys"

// FileKeyring is the local Keyring: a key-encryption key in dir/kek and each
// tenant's data key, wrapped by it (AES-256-GCM bound to the tenant and key
// id), in dir/tenants/<hex tenant>.dek. Destroy writes a tombstone
// (<hex tenant>.erased), overwrites the wrapped key and removes it.
type FileKeyring struct {
	dir string
	kek cipher.AEAD
	mu  sync.Mutex
}

var _ Keyring = (*FileKeyring)(nil)

// OpenFileKeyring opens (creating on first use) the keystore in dir.
func OpenFileKeyring(dir string) (*FileKeyring, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tenants"), 0o700); err != nil {
		return nil, fmt.Errorf("open keystore: %w", err)
	}
	kek, err := loadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &FileKeyring{dir: dir, kek: aead}, nil
}

func loadOrCreateKEK(path string) ([]byte, error) {
	k, err := readSecretFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		fresh := make([]byte, KeySize)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		if err := writeOnce(path, []byte(hex.EncodeToString(fresh)+"\n")); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create key-encryption key: %w", err)
		}
		k, err = readSecretFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("load key-encryption key: %w", err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(k)))
	if err != nil || len(b) != KeySize {
		return nil, fmt.Errorf("load key-encryption key %s: want %d hex-encoded bytes", filepath.Base(path), KeySize)
	}
	return b, nil
}

func readSecretFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read it; chmod 600 it", filepath.Base(path), fi.Mode().Perm())
	}
	return os.ReadFile(path)
}

// writeOnce writes b to path through a synced 0600 temporary file hard-linked
// into place: never half-written, and fs.ErrExist if path is already there.
func writeOnce(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}

func (r *FileKeyring) file(tenant events.TenantID, ext string) string {
	return filepath.Join(r.dir, "tenants", hex.EncodeToString([]byte(tenant))+ext)
}

type wrappedKey struct {
	ID      string `json:"id"`
	Wrapped string `json:"wrapped"`
}

func wrapAAD(tenant events.TenantID, id string) []byte {
	return []byte("tenantstream data key v1\x00" + string(tenant) + "\x00" + id)
}

func (r *FileKeyring) erased(tenant events.TenantID) (bool, error) {
	_, err := os.Stat(r.file(tenant, ".erased"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (r *FileKeyring) load(tenant events.TenantID) (Key, error) {
	if gone, err := r.erased(tenant); err != nil || gone {
		if err == nil {
			err = ErrErased
		}
		return Key{}, err
	}
	b, err := readSecretFile(r.file(tenant, ".dek"))
	if err != nil {
		return Key{}, err
	}
	var w wrappedKey
	if err := json.Unmarshal(b, &w); err != nil {
		return Key{}, fmt.Errorf("data key of %s: %w", tenant, err)
	}
	ct, err := base64.StdEncoding.DecodeString(w.Wrapped)
	ns := r.kek.NonceSize()
	if err != nil || len(ct) < ns {
		return Key{}, fmt.Errorf("data key of %s: malformed", tenant)
	}
	secret, err := r.kek.Open(nil, ct[:ns], ct[ns:], wrapAAD(tenant, w.ID))
	if err != nil {
		return Key{}, fmt.Errorf("data key of %s does not open under the key-encryption key", tenant)
	}
	return Key{ID: w.ID, Secret: secret}, nil
}

// Current implements Keyring.
func (r *FileKeyring) Current(ctx context.Context, tenant events.TenantID) (Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.load(tenant)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	secret := make([]byte, KeySize)
	idb := make([]byte, 4)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	if _, err := rand.Read(idb); err != nil {
		return Key{}, err
	}
	id := hex.EncodeToString(idb)
	nonce := make([]byte, r.kek.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Key{}, err
	}
	w, err := json.Marshal(wrappedKey{ID: id, Wrapped: base64.StdEncoding.EncodeToString(r.kek.Seal(nonce, nonce, secret, wrapAAD(tenant, id)))})
	if err != nil {
		return Key{}, err
	}
	if err := writeOnce(r.file(tenant, ".dek"), append(w, '\n')); err != nil && !errors.Is(err, fs.ErrExist) {
		return Key{}, fmt.Errorf("create data key of %s: %w", tenant, err)
	}
	// Another process may have linked its key first: use whichever is there.
	return r.load(tenant)
}

// Get implements Keyring.
func (r *FileKeyring) Get(ctx context.Context, tenant events.TenantID, id string) (Key, error) {
	k, err := r.load(tenant)
	if errors.Is(err, fs.ErrNotExist) {
		return Key{}, fmt.Errorf("%w %q of %s", ErrUnknownKey, id, tenant)
	}
	if err != nil {
		return Key{}, err
	}
	if k.ID != id {
		return Key{}, fmt.Errorf("%w %q of %s", ErrUnknownKey, id, tenant)
	}
	return k, nil
}

// Destroy implements Keyring. The tombstone is written first, so a crash
// part-way leaves the tenant erased; the wrapped key is overwritten before it
// is removed (best effort: a journaling or copy-on-write file system may keep
// old blocks, which is why the key is wrapped by the KEK at all).
func (r *FileKeyring) Destroy(ctx context.Context, tenant events.TenantID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := writeOnce(r.file(tenant, ".erased"), []byte("{}\n")); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("erase %s: %w", tenant, err)
	}
	path := r.file(tenant, ".dek")
	if fi, err := os.Stat(path); err == nil {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			_, werr := f.Write(make([]byte, fi.Size()))
			serr := f.Sync()
			f.Close()
			if werr != nil || serr != nil {
				return fmt.Errorf("erase %s: overwrite the data key: %w", tenant, errors.Join(werr, serr))
			}
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("erase %s: %w", tenant, err)
	}
	return syncDir(filepath.Dir(path))
}
