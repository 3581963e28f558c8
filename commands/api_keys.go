package commands

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// CreateAPIKey creates a machine credential for a tenant; tenant_admin only
// (docs/ARCHITECTURE.md, "API keys").
type CreateAPIKey struct {
	Tenant    string
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
}

// CreatedAPIKey is the answer of CreateAPIKey: the only place the secret key
// is ever shown (Key is empty in the answer of a keyed retry).
type CreatedAPIKey struct {
	KeyID     string     `json:"key_id"`
	Key       string     `json:"key,omitempty"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// APIKey is a key as a list shows it, never with its secret or hash.
type APIKey struct {
	KeyID     string     `json:"key_id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	// LastUsedAt is when this server process last accepted the key
	// (keyUse): approximate, and per instance on AWS.
	LastUsedAt *time.Time `json:"last_used_at"`
}

// APIKeyList is the answer of ListAPIKeys.
type APIKeyList struct {
	Keys []APIKey `json:"api_keys"`
}

// maxAPIKeyName bounds a key's name (characters).
const maxAPIKeyName = 100

var errKeysCannotManage = domain.Errorf(domain.CodeForbidden, "API keys cannot manage API keys or users; use a tenant admin's token")

// errBadAPIKey is the one answer to a key that does not verify (unknown,
// wrong secret, revoked), so a caller learns nothing about which.
var errBadAPIKey = &domain.Error{Code: domain.CodeUnauthenticated, Message: "The API key is not valid."}

// CreateAPIKey runs the command.
func (s *Service) CreateAPIKey(ctx context.Context, m Meta, c CreateAPIKey) (CreatedAPIKey, error) {
	tid, err := s.authorizeKeyAdmin(ctx, m, c.Tenant)
	if err != nil {
		return CreatedAPIKey{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return CreatedAPIKey{}, err
	}
	if c.Name == "" || utf8.RuneCountInString(c.Name) > maxAPIKeyName || !utf8.ValidString(c.Name) {
		return CreatedAPIKey{}, domain.FieldError("name", "is required, at most %d characters", maxAPIKeyName)
	}
	if len(c.Scopes) == 0 {
		return CreatedAPIKey{}, domain.FieldError("scopes", "at least one of %v is required", apikey.Scopes)
	}
	var scopes []string
	for _, sc := range apikey.Scopes { // canonical order, no duplicates
		if slices.Contains(c.Scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	for _, sc := range c.Scopes {
		if !apikey.ValidScope(sc) {
			return CreatedAPIKey{}, domain.FieldError("scopes", "unknown scope %q; the scopes are %v", sc, apikey.Scopes)
		}
	}
	// A retry gets the first answer, even once its expires_at has passed.
	if res, dup, err := s.firstResult(ctx, m, tid, apikey.StreamID); err != nil {
		return CreatedAPIKey{}, err
	} else if dup {
		return createdKey(res)
	}
	now := s.Clock.Now()
	var expires *time.Time
	if c.ExpiresAt != nil {
		if !c.ExpiresAt.After(now) {
			return CreatedAPIKey{}, domain.FieldError("expires_at", "must be in the future")
		}
		e := c.ExpiresAt.UTC()
		if e.Year() > 9999 {
			// An offset can push a year-9999 time past what RFC 3339 (and the
			// stored event) can hold; refuse it before anything is written.
			return CreatedAPIKey{}, domain.FieldError("expires_at", "must be before the year 10000 in UTC")
		}
		expires = &e
	}
	k, err := apikey.New(rand.Reader)
	if err != nil {
		return CreatedAPIKey{}, err
	}
	// The platform index first: a key id names one tenant forever. If the
	// tenant's append then fails, the index names a tenant without that key and
	// the key, never handed out, cannot verify.
	_, err = s.Store.Append(events.WithoutTenantScope(ctx), events.AppendRequest{
		Tenant: projections.PlatformTenant, Stream: events.StreamID(apikey.IndexStreamID(k.ID)), StreamType: apikey.IndexStreamType,
		Expected: events.NoStream, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
		Events: []events.NewEvent{newEvent(&apikey.Registered{KeyID: k.ID, TenantID: string(tid), At: now})},
	})
	if err != nil {
		return CreatedAPIKey{}, storeError("register api key", err)
	}
	ev := &apikey.Created{KeyID: k.ID, Name: c.Name, Scopes: scopes,
		SecretHash: hex.EncodeToString(s.cursors().APIKeyHashes(k.ID, k.Secret)[0]), CreatedAt: now, ExpiresAt: expires}
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: apikey.StreamID, StreamType: apikey.StreamType,
		Expected: events.AnyVersion, IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint,
		CorrelationID: m.CorrelationID, Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(ev)},
	})
	if err != nil {
		return CreatedAPIKey{}, storeError("create api key", err)
	}
	if res.Duplicate { // a concurrent attempt of this very request won
		return createdKey(res)
	}
	out, err := createdKey(res)
	out.Key = k.String()
	return out, err
}

func createdKey(res events.AppendResult) (CreatedAPIKey, error) {
	if len(res.Events) != 1 || res.Events[0].Type != apikey.TypeCreated {
		return CreatedAPIKey{}, errKeyReused
	}
	c, err := events.DecodeAs[apikey.Created](schema.Registry, res.Events[0])
	if err != nil {
		return CreatedAPIKey{}, storeError("decode api key", err)
	}
	return CreatedAPIKey{KeyID: c.KeyID, Name: c.Name, Scopes: c.Scopes, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt}, nil
}

// authorizeKeyAdmin is the check of every key-management command: the path
// tenant, a tenant admin, never a key itself.
func (s *Service) authorizeKeyAdmin(ctx context.Context, m Meta, tenant string) (events.TenantID, error) {
	tid, err := s.authorizeTenant(ctx, m, tenant)
	if err != nil {
		return "", err
	}
	if m.Principal.KeyID != "" {
		return "", errKeysCannotManage
	}
	if err := s.requireRole(ctx, m, tid, identity.RoleTenantAdmin); err != nil {
		return "", err
	}
	return tid, nil
}

// keyState is one key folded from the tenant's api-keys stream.
type keyState struct {
	created apikey.Created
	revoked bool
}

// keyCacheSize bounds each map of the key cache; past it the map starts over.
const keyCacheSize = 10_000

// keyCache keeps, per process, what verifying a key reads (docs/ARCHITECTURE.md,
// "API keys"): the tenant each key id names, which never changes (the index
// entry is appended at "no stream"), and each tenant's folded keys with the
// version they are folded to. Every read of a tenant's keys still asks the
// store for what follows that version, so a revocation (another instance's
// included) counts on the next request; what the cache saves is the platform
// index read and the re-read of the whole stream.
type keyCache struct {
	mu      sync.Mutex
	tenants map[string]events.TenantID // key id -> tenant
	rings   map[events.TenantID]*keyRing
}

// keyRing is a tenant's keys folded to version. It is shared: never changed
// once cached.
type keyRing struct {
	keys    []*keyState
	version int64
}

func (s *Service) keyCaches() *keyCache {
	s.keyCacheOnce.Do(func() {
		s.keyCache = &keyCache{tenants: map[string]events.TenantID{}, rings: map[events.TenantID]*keyRing{}}
	})
	return s.keyCache
}

// keyTenant returns the tenant key id names, from the platform index (read
// outside the request's tenant scope: it is what names the tenant), cached
// once found. An id nobody registered is not cached, so made-up ids cannot
// fill the cache.
func (s *Service) keyTenant(ctx context.Context, id string) (events.TenantID, error) {
	c := s.keyCaches()
	c.mu.Lock()
	tid, ok := c.tenants[id]
	c.mu.Unlock()
	if ok {
		return tid, nil
	}
	evs, err := s.Store.Load(events.WithoutTenantScope(ctx), projections.PlatformTenant, events.StreamID(apikey.IndexStreamID(id)), 1)
	if errors.Is(err, events.ErrNotFound) {
		return "", errBadAPIKey
	}
	if err != nil {
		return "", storeError("load api key index", err)
	}
	reg, err := events.DecodeAs[apikey.Registered](schema.Registry, evs[0])
	if err != nil {
		return "", storeError("decode api key index", err)
	}
	tid = events.TenantID(reg.TenantID)
	c.mu.Lock()
	if len(c.tenants) >= keyCacheSize {
		c.tenants = map[string]events.TenantID{}
	}
	c.tenants[id] = tid
	c.mu.Unlock()
	return tid, nil
}

// loadKeys returns the tenant's keys in creation order, as the store has them
// now, and the stream's version: the cached fold plus the events appended
// since (one consistent read, empty almost always). The keys are shared:
// callers must not change them.
func (s *Service) loadKeys(ctx context.Context, tid events.TenantID) ([]*keyState, int64, error) {
	c := s.keyCaches()
	c.mu.Lock()
	cached := c.rings[tid]
	c.mu.Unlock()
	// A warm read starts at the cached version itself, not after it: the
	// event it gets back proves the stream is there, where an empty answer
	// would make the DynamoDB store read the stream's head to tell "nothing
	// new" from "no stream" (a second Query on every keyed request).
	from := int64(1)
	if cached != nil {
		from = cached.version
	}
	evs, err := s.Store.Load(ctx, tid, apikey.StreamID, from)
	switch {
	case errors.Is(err, events.ErrNotFound):
		evs = nil // no stream yet
	case err != nil:
		return nil, 0, storeError("load api keys", err)
	}
	if cached != nil {
		if len(evs) == 0 || evs[0].Version != cached.version {
			// Events are never deleted, so this is not a store we know: fold it all again.
			cached = nil
			if evs, err = s.Store.Load(ctx, tid, apikey.StreamID, 1); err != nil {
				return nil, 0, storeError("load api keys", err)
			}
		} else {
			evs = evs[1:]
		}
	}
	if len(evs) == 0 {
		if cached == nil {
			return nil, 0, nil
		}
		return cached.keys, cached.version, nil
	}
	ring := &keyRing{}
	byID := map[string]*keyState{}
	if cached != nil {
		ring.version = cached.version
		for _, k := range cached.keys {
			cp := *k
			ring.keys = append(ring.keys, &cp)
			byID[cp.created.KeyID] = &cp
		}
	}
	for _, e := range evs {
		ring.version = e.Version
		switch e.Type {
		case apikey.TypeCreated:
			cr, err := events.DecodeAs[apikey.Created](schema.Registry, e)
			if err != nil {
				return nil, 0, storeError("decode api key", err)
			}
			k := &keyState{created: cr}
			ring.keys = append(ring.keys, k)
			byID[cr.KeyID] = k
		case apikey.TypeRevoked:
			r, err := events.DecodeAs[apikey.Revoked](schema.Registry, e)
			if err != nil {
				return nil, 0, storeError("decode api key", err)
			}
			if k := byID[r.KeyID]; k != nil {
				k.revoked = true
			}
		}
	}
	c.mu.Lock()
	if len(c.rings) >= keyCacheSize {
		c.rings = map[events.TenantID]*keyRing{}
	}
	if old := c.rings[tid]; old == nil || old.version < ring.version {
		c.rings[tid] = ring
	}
	c.mu.Unlock()
	return ring.keys, ring.version, nil
}

// ListAPIKeys lists the tenant's keys that are not revoked (expired ones
// included), never with secrets.
func (s *Service) ListAPIKeys(ctx context.Context, m Meta, tenant string) (APIKeyList, error) {
	tid, err := s.authorizeKeyAdmin(ctx, m, tenant)
	if err != nil {
		return APIKeyList{}, err
	}
	keys, _, err := s.loadKeys(ctx, tid)
	if err != nil {
		return APIKeyList{}, err
	}
	out := APIKeyList{Keys: []APIKey{}}
	for _, k := range keys {
		if k.revoked {
			continue
		}
		c := k.created
		out.Keys = append(out.Keys, APIKey{KeyID: c.KeyID, Name: c.Name, Scopes: c.Scopes, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt, LastUsedAt: s.keyUses().lastUse(c.KeyID)})
	}
	return out, nil
}

// RevokeAPIKey revokes a key at once: the next request with it is a 401.
// Revoking a revoked key changes nothing.
func (s *Service) RevokeAPIKey(ctx context.Context, m Meta, tenant, keyID string) error {
	tid, err := s.authorizeKeyAdmin(ctx, m, tenant)
	if err != nil {
		return err
	}
	if err := s.requireRevocable(ctx, m, tid); err != nil {
		return err
	}
	notFound := domain.Errorf(domain.CodeNotFound, "no such API key")
	if !apikey.ValidID(keyID) {
		return notFound
	}
	for attempt := 0; ; attempt++ {
		keys, version, err := s.loadKeys(ctx, tid)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(keys, func(k *keyState) bool { return k.created.KeyID == keyID })
		if i < 0 {
			return notFound
		}
		if keys[i].revoked {
			return nil
		}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: apikey.StreamID, StreamType: apikey.StreamType,
			Expected: events.Exactly(version), CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
			Events: []events.NewEvent{newEvent(&apikey.Revoked{KeyID: keyID, At: s.Clock.Now()})},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < 3 {
			continue // another key was created or revoked meanwhile
		}
		return storeError("revoke api key", err)
	}
}

// VerifyAPIKey turns an API key into its Principal: the key's tenant, its
// scopes, no roles, and the actor "key:<key_id>". A malformed key (a typo
// fails the checksum) is refused before any read; then the platform index
// names the tenant (cached once found), the tenant's stream holds the key
// (read from the cached version on, so a revocation holds at once), and the
// secret's keyed hash is compared in constant time; revoked and expired keys
// are refused.
func (s *Service) VerifyAPIKey(ctx context.Context, token string) (identity.Principal, error) {
	k, err := apikey.Parse(token)
	if err != nil {
		return identity.Principal{}, &domain.Error{Code: domain.CodeUnauthenticated, Message: "The API key is malformed.", Err: err}
	}
	tid, err := s.keyTenant(ctx, k.ID)
	if err != nil {
		return identity.Principal{}, err
	}
	// The tenant's own keys with the tenant's scope, so on AWS with its
	// credentials (decision 9d).
	keys, _, err := s.loadKeys(events.WithTenantScope(events.WithoutTenantScope(ctx), tid), tid)
	if err != nil {
		return identity.Principal{}, err
	}
	i := slices.IndexFunc(keys, func(ks *keyState) bool { return ks.created.KeyID == k.ID })
	if i < 0 {
		return identity.Principal{}, errBadAPIKey
	}
	stored, err := hex.DecodeString(keys[i].created.SecretHash)
	if err != nil {
		return identity.Principal{}, errBadAPIKey
	}
	match := false
	for _, h := range s.cursors().APIKeyHashes(k.ID, k.Secret) {
		if hmac.Equal(h, stored) {
			match = true
		}
	}
	if !match || keys[i].revoked {
		return identity.Principal{}, errBadAPIKey
	}
	now := s.Clock.Now()
	if e := keys[i].created.ExpiresAt; e != nil && !now.Before(*e) {
		return identity.Principal{}, &domain.Error{Code: domain.CodeUnauthenticated, Message: "The API key has expired.", Err: ErrAPIKeyExpired}
	}
	s.keyUses().touch(k.ID, now)
	return identity.Principal{TenantID: string(tid), UserID: "key:" + k.ID, KeyID: k.ID, Scopes: slices.Clone(keys[i].created.Scopes)}, nil
}

// ErrAPIKeyExpired is the cause of the 401 for an expired key.
var ErrAPIKeyExpired = errors.New("commands: api key expired")

// keyUse remembers when each key was last accepted by this process, for
// last_used_at. It is kept in memory, not written on every request (that
// would be an append per API call): after a restart, or on another AWS
// instance, a key shows the last use that instance saw, or none.
type keyUse struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (s *Service) keyUses() *keyUse {
	s.keyUseOnce.Do(func() { s.keyUse = &keyUse{last: map[string]time.Time{}} })
	return s.keyUse
}

func (u *keyUse) touch(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if at.After(u.last[id]) {
		u.last[id] = at.UTC()
	}
}

func (u *keyUse) lastUse(id string) *time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.last[id]
	if !ok {
		return nil
	}
	return &t
}
