package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// Operator credentials (docs/ARCHITECTURE.md, decision 21): short-lived tokens
// for the platform_admin role, signed with a key of their own that only the
// data directory's owner can read, so no tenant token (signed with the
// issuer's RSA key) and no API key can ever be one.
const (
	// OperatorKeyFile holds the operator signing key (Ed25519, PKCS#8 PEM, mode 0600).
	OperatorKeyFile = "operator-key"
	// OperatorTokenPrefix starts every operator token, so the bearer path
	// sends it to the operator verifier and never to the tenant issuer's.
	OperatorTokenPrefix = "tso_"
	// DefaultOperatorTTL and MaxOperatorTTL bound how long an operator token lives.
	DefaultOperatorTTL = time.Hour
	MaxOperatorTTL     = 12 * time.Hour
	// OperatorActorPrefix starts the user id (and so the events' actor) of an operator.
	OperatorActorPrefix = ident.OperatorActorPrefix

	operatorIssuer   = "tenantstream-operator"
	operatorAudience = "tenantstream-admin"
	operatorUse      = "operator"
	maxOperatorToken = 2048
)

// OperatorKey signs and verifies operator tokens.
type OperatorKey struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// ValidateOperatorName checks an operator's name: 1-64 characters of a-z,
// A-Z, 0-9, '.', '_', '-' and '@', so it can stand in logs and actors as is.
func ValidateOperatorName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return domain.FieldError("name", "must be 1-64 characters long")
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '@':
		default:
			return domain.FieldError("name", "may contain only letters, digits, '.', '_', '-' and '@'")
		}
	}
	return nil
}

// checkPrivate refuses a path that others than its owner may read or change,
// or that belongs to another user.
func checkPrivate(path, what string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s %s has mode %04o, which lets others read or change it; chmod go-rwx it", what, path, fi.Mode().Perm())
	}
	if !ownedByMe(fi) {
		return fmt.Errorf("%s %s belongs to another user", what, path)
	}
	return nil
}

// LoadOrCreateOperatorKey loads dir/OperatorKeyFile, or creates it (mode 0600)
// when there is none. It refuses a directory or key file that its group or
// others may read, or that another user owns: whoever can read the key can
// act on every tenant.
func LoadOrCreateOperatorKey(dir string) (*OperatorKey, error) {
	if err := checkPrivate(dir, "data directory"); err != nil {
		return nil, fmt.Errorf("operator key: %w", err)
	}
	path := filepath.Join(dir, OperatorKeyFile)
	k, err := loadOperatorKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create operator key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("create operator key: %w", err)
	}
	if err := writeKeyOnce(dir, path, OperatorKeyFile, der); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOperatorKey(path)
		}
		return nil, fmt.Errorf("create operator key: %w", err)
	}
	return &OperatorKey{priv: priv, pub: pub}, nil
}

func loadOperatorKey(path string) (*OperatorKey, error) {
	if err := checkPrivate(path, "operator key"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("load operator key: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load operator key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("load operator key %s: no PKCS#8 PEM block", filepath.Base(path))
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load operator key %s: %w", filepath.Base(path), err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load operator key %s: not an Ed25519 key", filepath.Base(path))
	}
	return &OperatorKey{priv: priv, pub: priv.Public().(ed25519.PublicKey)}, nil
}

// operatorClaims are the claims of an operator token.
type operatorClaims struct {
	jwt.Claims
	TokenUse string `json:"token_use"`
	Name     string `json:"name"`
}

// Mint signs an operator token for name, valid from now for ttl (0:
// DefaultOperatorTTL; at most MaxOperatorTTL), and returns it with its expiry.
func (k *OperatorKey) Mint(name string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	if err := ValidateOperatorName(name); err != nil {
		return "", time.Time{}, err
	}
	if ttl == 0 {
		ttl = DefaultOperatorTTL
	}
	if ttl < time.Minute || ttl > MaxOperatorTTL {
		return "", time.Time{}, domain.FieldError("ttl", "must be from 1m to %s", MaxOperatorTTL)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mint operator token: %w", err)
	}
	exp := now.Add(ttl)
	tok, err := jwt.Signed(signer).Claims(operatorClaims{
		Claims: jwt.Claims{Issuer: operatorIssuer, Subject: OperatorActorPrefix + name, Audience: jwt.Audience{operatorAudience},
			ID: newJTI(), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp)},
		TokenUse: operatorUse, Name: name,
	}).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mint operator token: %w", err)
	}
	return OperatorTokenPrefix + tok, exp, nil
}

// OperatorVerifier checks operator tokens against the operator key.
type OperatorVerifier struct {
	key   ed25519.PublicKey
	clock clock.Clock
}

// Verifier returns the verifier of k's tokens on clk (nil: the system clock).
func (k *OperatorKey) Verifier(clk clock.Clock) *OperatorVerifier {
	if clk == nil {
		clk = clock.System{}
	}
	return &OperatorVerifier{key: k.pub, clock: clk}
}

func operatorReject(cause string) error {
	return &domain.Error{Code: domain.CodeUnauthenticated, Message: "The operator token is invalid or expired.", Err: errors.New("operator token: " + cause)}
}

// Verify checks an operator token (prefix, EdDSA signature with the operator
// key, issuer, audience, token use, exp/nbf with 30 s of leeway) and returns
// its principal: the platform_admin role, no tenant, UserID "operator:NAME".
func (v *OperatorVerifier) Verify(_ context.Context, token string) (ident.Principal, error) {
	raw, ok := strings.CutPrefix(token, OperatorTokenPrefix)
	if !ok || len(token) > maxOperatorToken {
		return ident.Principal{}, operatorReject("malformed")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return ident.Principal{}, operatorReject("malformed")
	}
	var c operatorClaims
	if err := tok.Claims(v.key, &c); err != nil {
		return ident.Principal{}, operatorReject("bad signature")
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return ident.Principal{}, operatorReject("no exp or iat")
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: operatorIssuer, AnyAudience: jwt.Audience{operatorAudience}, Time: v.clock.Now()}, 30*time.Second); err != nil {
		return ident.Principal{}, operatorReject(err.Error())
	}
	if c.TokenUse != operatorUse || c.Subject != OperatorActorPrefix+c.Name || ValidateOperatorName(c.Name) != nil {
		return ident.Principal{}, operatorReject("wrong claims")
	}
	return ident.Principal{UserID: c.Subject, Roles: []string{ident.RolePlatformAdmin}}, nil
}
