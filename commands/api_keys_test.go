package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/cursorseal"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/apikey"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
)

// loadCountingStore counts Loads, to show which failures need no lookup.
type loadCountingStore struct {
	events.Store
	loads atomic.Int64
}

func (c *loadCountingStore) Load(ctx context.Context, t events.TenantID, s events.StreamID, from int64) ([]events.Event, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, t, s, from)
}

func TestAPIKeysCreateVerifyListRevokeExpire(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	cs := &loadCountingStore{Store: f.store}
	f.svc.Store = cs
	a, ma := f.onboard(t, "acme")
	b, mb := f.onboard(t, "globex")

	exp := f.clk.Now().Add(time.Hour)
	k, err := f.svc.CreateAPIKey(f.ctx, ma, commands.CreateAPIKey{Tenant: a, Name: "ingest", Scopes: []string{"data:read", "usage:write", "data:read"}, ExpiresAt: &exp})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(k.Key, apikey.Prefix))
	assert.Equal(t, []string{"usage:write", "data:read"}, k.Scopes)

	p, err := f.svc.VerifyAPIKey(f.ctx, k.Key)
	require.NoError(t, err)
	assert.Equal(t, ident.Principal{TenantID: a, UserID: "key:" + k.KeyID, KeyID: k.KeyID, Scopes: []string{"usage:write", "data:read"}}, p)
	assert.True(t, p.HasScope("data:read"))
	assert.False(t, p.HasScope("data:write"))

	list, err := f.svc.ListAPIKeys(f.ctx, ma, a)
	require.NoError(t, err)
	require.Len(t, list.Keys, 1)
	assert.Equal(t, k.KeyID, list.Keys[0].KeyID)
	require.NotNil(t, list.Keys[0].LastUsedAt)

	// Another tenant sees none of it, and a key manages nothing.
	list, err = f.svc.ListAPIKeys(f.ctx, mb, b)
	require.NoError(t, err)
	assert.Empty(t, list.Keys)
	_, err = f.svc.ListAPIKeys(f.ctx, mb, a)
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
	_, err = f.svc.CreateAPIKey(f.ctx, commands.Meta{Principal: p}, commands.CreateAPIKey{Tenant: a, Name: "x", Scopes: []string{"data:read"}})
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
	_, err = f.svc.AddUser(f.ctx, commands.Meta{Principal: p}, commands.AddUser{Tenant: a, Email: "x@acme.test", Password: "Sup3r-secret!"}, nil)
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))

	// Typos are refused by the checksum, before any read.
	before := cs.loads.Load()
	for _, bad := range typos(k.Key) {
		_, err := f.svc.VerifyAPIKey(f.ctx, bad)
		assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), bad)
	}
	assert.Equal(t, before, cs.loads.Load(), "a malformed key must not reach the store")

	// A well-formed key that was never issued is a 401 too.
	forged, err := apikey.New(strings.NewReader(strings.Repeat("x", 30)))
	require.NoError(t, err)
	_, err = f.svc.VerifyAPIKey(f.ctx, forged.String())
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
	// The right id with another secret.
	parsed, err := apikey.Parse(k.Key)
	require.NoError(t, err)
	parsed.Secret = strings.Repeat("a", len(parsed.Secret))
	_, err = f.svc.VerifyAPIKey(f.ctx, parsed.String())
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))

	// Expiry follows the clock.
	require.NoError(t, f.clk.Set(f.clk.Now().Add(time.Hour)))
	_, err = f.svc.VerifyAPIKey(f.ctx, k.Key)
	assert.ErrorIs(t, err, commands.ErrAPIKeyExpired)

	// Revocation is immediate and idempotent.
	k2, err := f.svc.CreateAPIKey(f.ctx, ma, commands.CreateAPIKey{Tenant: a, Name: "billing", Scopes: []string{"billing:read"}})
	require.NoError(t, err)
	assert.Nil(t, k2.ExpiresAt)
	_, err = f.svc.VerifyAPIKey(f.ctx, k2.Key)
	require.NoError(t, err)
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(f.svc.RevokeAPIKey(f.ctx, mb, a, k2.KeyID)))
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(f.svc.RevokeAPIKey(f.ctx, mb, b, k2.KeyID)))
	require.NoError(t, f.svc.RevokeAPIKey(f.ctx, ma, a, k2.KeyID))
	require.NoError(t, f.svc.RevokeAPIKey(f.ctx, ma, a, k2.KeyID))
	_, err = f.svc.VerifyAPIKey(f.ctx, k2.Key)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
	list, err = f.svc.ListAPIKeys(f.ctx, ma, a)
	require.NoError(t, err)
	require.Len(t, list.Keys, 1)
	assert.Equal(t, k.KeyID, list.Keys[0].KeyID)

	// The events record the admin as actor; the log shows no hash.
	page, err := f.svc.EventLog(f.ctx, ma, a, "", 100)
	require.NoError(t, err)
	var seen int
	for _, e := range page.Events {
		if e.Type == apikey.TypeCreated {
			seen++
			assert.Contains(t, string(e.Data), `"secret_hash":"[redacted]"`)
			assert.Equal(t, ma.Principal.UserID, e.Actor)
		}
		assert.NotContains(t, string(e.Data), k.Key)
	}
	assert.Equal(t, 2, seen)
}

func TestCreateAPIKeyValidates(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	a, ma := f.onboard(t, "acme")
	past := f.clk.Now().Add(-time.Second)
	member := ma
	member.Principal.Roles = []string{ident.RoleTenantMember}
	for _, tc := range []struct {
		name string
		m    commands.Meta
		c    commands.CreateAPIKey
		code domain.Code
	}{
		{"no name", ma, commands.CreateAPIKey{Tenant: a, Scopes: []string{"data:read"}}, domain.CodeInvalid},
		{"long name", ma, commands.CreateAPIKey{Tenant: a, Name: strings.Repeat("n", 101), Scopes: []string{"data:read"}}, domain.CodeInvalid},
		{"no scopes", ma, commands.CreateAPIKey{Tenant: a, Name: "n"}, domain.CodeInvalid},
		{"unknown scope", ma, commands.CreateAPIKey{Tenant: a, Name: "n", Scopes: []string{"admin"}}, domain.CodeInvalid},
		{"expired", ma, commands.CreateAPIKey{Tenant: a, Name: "n", Scopes: []string{"data:read"}, ExpiresAt: &past}, domain.CodeInvalid},
		{"member", member, commands.CreateAPIKey{Tenant: a, Name: "n", Scopes: []string{"data:read"}}, domain.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.CreateAPIKey(f.ctx, tc.m, tc.c)
			assert.Equal(t, tc.code, domain.ErrorCode(err))
		})
	}
}

// typos returns key with one character changed, dropped, added or swapped.
func typos(key string) []string {
	i := len(apikey.Prefix) + 5
	for key[i] == key[i+1] { // a swap must change the key
		i++
	}
	flip := byte('a')
	if key[i] == 'a' {
		flip = 'b'
	}
	return []string{
		key[:i] + string(flip) + key[i+1:],
		key[:i] + key[i+1:],
		key[:i] + "a" + key[i:],
		key[:i] + string(key[i+1]) + string(key[i]) + key[i+2:],
		strings.ToUpper(key),
		key + " ",
	}
}

// streamLoads counts Loads per stream and the version each started from.
type streamLoads struct {
	events.Store
	mu    sync.Mutex
	loads []string // "<tenant>/<stream>@<from>"
}

func (c *streamLoads) Load(ctx context.Context, t events.TenantID, s events.StreamID, from int64) ([]events.Event, error) {
	c.mu.Lock()
	c.loads = append(c.loads, fmt.Sprintf("%s/%s@%d", t, s, from))
	c.mu.Unlock()
	return c.Store.Load(ctx, t, s, from)
}

func (c *streamLoads) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.loads
	c.loads = nil
	return out
}

// A verifying instance keeps the key's tenant and the tenant's folded keys,
// and reads only from the version it holds on: one load. A
// revocation made by another instance (another Lambda instance, sharing only
// the store) is refused on that instance's very next request.
func TestVerifyAPIKeyReadsOnlyNewKeyEventsAndSeesOtherInstancesRevocations(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	f.svc.Cursors = cursorseal.Ephemeral()
	a, ma := f.onboard(t, "acme")
	k, err := f.svc.CreateAPIKey(f.ctx, ma, commands.CreateAPIKey{Tenant: a, Name: "ingest", Scopes: []string{"data:read"}})
	require.NoError(t, err)

	counted := &streamLoads{Store: f.store}
	verifier := &commands.Service{Store: counted, Reader: f.svc.Reader, Clock: f.clk, Plans: f.svc.Plans, Cursors: f.svc.Cursors}
	_, err = verifier.VerifyAPIKey(f.ctx, k.Key)
	require.NoError(t, err)
	assert.Equal(t, []string{"_platform/api-key-" + k.KeyID + "@1", a + "/api-keys@1"}, counted.take(), "cold: the index, then the whole stream")
	_, err = verifier.VerifyAPIKey(f.ctx, k.Key)
	require.NoError(t, err)
	assert.Equal(t, []string{a + "/api-keys@1"}, counted.take(), "warm: from the cached version 1 on, which proves the stream is there")

	// Another instance creates a second key and revokes the first.
	k2, err := f.svc.CreateAPIKey(f.ctx, ma, commands.CreateAPIKey{Tenant: a, Name: "second", Scopes: []string{"data:write"}})
	require.NoError(t, err)
	require.NoError(t, f.svc.RevokeAPIKey(f.ctx, ma, a, k.KeyID))
	_, err = verifier.VerifyAPIKey(f.ctx, k.Key)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "revoked elsewhere: refused at once")
	assert.Equal(t, []string{a + "/api-keys@1"}, counted.take())
	p, err := verifier.VerifyAPIKey(f.ctx, k2.Key)
	require.NoError(t, err)
	assert.Equal(t, []string{"data:write"}, p.Scopes)
	assert.Equal(t, []string{"_platform/api-key-" + k2.KeyID + "@1", a + "/api-keys@3"}, counted.take(), "a new key id: its index once, the stream from its cached version")

	// An id nobody registered is read every time: it is not cached.
	forged, err := apikey.New(strings.NewReader(strings.Repeat("y", 30)))
	require.NoError(t, err)
	for range 2 {
		_, err = verifier.VerifyAPIKey(f.ctx, forged.String())
		assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
	}
	assert.Equal(t, []string{"_platform/api-key-" + forged.ID + "@1", "_platform/api-key-" + forged.ID + "@1"}, counted.take())

	// The list the revoking instance shows agrees.
	list, err := f.svc.ListAPIKeys(f.ctx, ma, a)
	require.NoError(t, err)
	require.Len(t, list.Keys, 1)
	assert.Equal(t, k2.KeyID, list.Keys[0].KeyID)
}
