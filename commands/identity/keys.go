package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	jose "github.com/go-jose/go-jose/v4"
)

// KeyFile is the signing key's file name inside the data directory.
const KeyFile = "jwt-signing-key.pem"

// rsaBits matches Cognito's user pool keys (RS256 with RSA-2048).
const rsaBits = 2048

// SigningKey is the issuer's private key and its key id.
type SigningKey struct {
	// ID is the RFC 7638 thumbprint of the public key, so it is derived, never stored,
	// and the same key always gets the same kid across restarts.
	ID      string
	Private *rsa.PrivateKey
}

// PublicJWK returns the public half as a JWK for the JWKS document.
func (k *SigningKey) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.ID, Algorithm: string(jose.RS256), Use: "sig"}
}

// NewSigningKey wraps an existing RSA key.
func NewSigningKey(priv *rsa.PrivateKey) (*SigningKey, error) {
	if priv == nil || priv.N.BitLen() < rsaBits {
		return nil, errors.New("signing key: want an RSA key of at least 2048 bits")
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing key: thumbprint: %w", err)
	}
	return &SigningKey{ID: base64.RawURLEncoding.EncodeToString(tp), Private: priv}, nil
}

// GenerateSigningKey makes a fresh RSA-2048 key (for tests and first starts).
func GenerateSigningKey() (*SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return NewSigningKey(priv)
}

// LoadOrCreateSigningKey loads the key from dir/KeyFile, or creates it (mode 0600)
// on first start, so tokens stay valid across restarts.
func LoadOrCreateSigningKey(dir string) (*SigningKey, error) {
	path := filepath.Join(dir, KeyFile)
	k, err := loadSigningKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	k, err = GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	if err := writeKeyOnce(dir, path, KeyFile, der); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadSigningKey(path)
		}
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	return k, nil
}

func loadSigningKey(path string) (*SigningKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load signing key %s: mode %v lets others read it; chmod 600 it", filepath.Base(path), fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("load signing key %s: no PKCS#8 PEM block", filepath.Base(path))
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", filepath.Base(path), err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load signing key %s: not an RSA key", filepath.Base(path))
	}
	return NewSigningKey(priv)
}

// writeKeyOnce writes a PKCS #8 private key as PEM to path, readable by its
// owner only, through a synced temporary file in dir. A hard link fails if
// the file exists (fs.ErrExist), so two processes creating it at once agree on
// one key instead of a later rename silently replacing the earlier's.
func writeKeyOnce(dir, path, name string, der []byte) error {
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return err
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
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
	return os.Link(tmp.Name(), path)
}
