package auth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tenantstream/tenantstream/domain/clock"
)

// ErrUnknownKey means no key with the token's kid is known.
var ErrUnknownKey = errors.New("auth: unknown signing key")

// KeySource finds the RSA public key a token names by kid.
type KeySource interface {
	Key(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// StaticKeys is a fixed key set, e.g. the local issuer's. Keys are parsed once, so
// verification does no key parsing on the hot path.
type StaticKeys map[string]*rsa.PublicKey

// NewStaticKeys takes the RS256 signing keys of set.
func NewStaticKeys(set jose.JSONWebKeySet) (StaticKeys, error) {
	return rsaKeys(set)
}

// Key returns the key with id kid.
func (s StaticKeys) Key(_ context.Context, kid string) (*rsa.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("key %q: %w", kid, ErrUnknownKey)
}

func rsaKeys(set jose.JSONWebKeySet) (StaticKeys, error) {
	out := StaticKeys{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.RS256) {
			continue
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" {
			continue
		}
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("key %q: RSA key shorter than 2048 bits", k.KeyID)
		}
		out[k.KeyID] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("key set has no RS256 signing key with a kid")
	}
	return out, nil
}

// RemoteJWKS fetches a JWKS URL (Cognito's
// https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json) and caches it.
// An unknown kid triggers a refetch, at most once per MinRefresh, so a flood of
// tokens with random kids cannot make us hammer the IdP.
type RemoteJWKS struct {
	URL        string
	Client     *http.Client  // nil: a client with a 10 s timeout
	Clock      clock.Clock   // nil: clock.System
	MinRefresh time.Duration // 0: one minute
	MaxAge     time.Duration // 0: one hour; keys older than this are refetched

	mu        sync.Mutex
	keys      StaticKeys
	fetchedAt time.Time
	triedAt   time.Time
}

const maxJWKSBytes = 1 << 20

// Key returns the key with id kid, fetching the set when it is unknown or stale.
func (r *RemoteJWKS) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = time.Hour
	}
	minRefresh := r.MinRefresh
	if minRefresh <= 0 {
		minRefresh = time.Minute
	}
	if k, ok := r.keys[kid]; ok && now.Sub(r.fetchedAt) < maxAge {
		return k, nil
	}
	// Holding the lock while fetching makes concurrent misses share one fetch.
	if r.triedAt.IsZero() || now.Sub(r.triedAt) >= minRefresh {
		r.triedAt = now
		keys, err := r.fetch(ctx)
		if err == nil {
			r.keys, r.fetchedAt = keys, now
		} else if r.keys == nil {
			return nil, fmt.Errorf("fetch jwks: %w", err)
		}
		// On a failed refresh keep serving the keys we have: an IdP blip must not log everyone out.
	}
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("key %q: %w", kid, ErrUnknownKey)
}

func (r *RemoteJWKS) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

func (r *RemoteJWKS) fetch(ctx context.Context) (StaticKeys, error) {
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", r.URL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: body over %d bytes", r.URL, maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	return rsaKeys(set)
}
