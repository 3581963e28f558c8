package commands_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
)

// Found by review: CreateAPIKey accepts an expires_at that JSON decodes (RFC 3339,
// 4-digit year) but whose UTC form has year 10000, e.g.
// "9999-12-31T23:59:59-23:59". It registers the key id in the platform index,
// then encoding the api_key.created event fails (Time.MarshalJSON: year outside
// of range [0,9999]) and newEvent panics. Over HTTP the panic becomes a 500
// logged as "panic in handler" for a tenant admin's malformed input, and each
// such request leaves an orphan api_key.registered entry in the platform
// partition. It should be a 400 on expires_at, before anything is written.
func TestCreateAPIKeyExpiryBeyondYear9999IsInvalidNotPanic(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	a, ma := f.onboard(t, "acme")
	var body struct {
		ExpiresAt *time.Time `json:"expires_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"expires_at":"9999-12-31T23:59:59-23:59"}`), &body), "the HTTP body decodes")
	var err error
	require.NotPanics(t, func() {
		_, err = f.svc.CreateAPIKey(f.ctx, ma, commands.CreateAPIKey{Tenant: a, Name: "n", Scopes: []string{"data:read"}, ExpiresAt: body.ExpiresAt})
	})
	assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), "%v", err)
}

// A keyed create retried after its expires_at has passed gets its first
// answer (docs/api.md, Idempotency), not a 400 on expires_at.
func TestKeyedAPIKeyCreateRetriedAfterItsExpiryGetsItsFirstAnswer(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	a, ma := f.onboard(t, "acme")
	mk := ma
	mk.IdempotencyKey, mk.Fingerprint = "K", "create-ci-key"
	exp := f.clk.Now().Add(time.Hour)
	c := commands.CreateAPIKey{Tenant: a, Name: "ci", Scopes: []string{"data:read"}, ExpiresAt: &exp}
	first, err := f.svc.CreateAPIKey(f.ctx, mk, c)
	require.NoError(t, err)
	require.NoError(t, f.clk.Set(exp.Add(time.Minute)))
	again, err := f.svc.CreateAPIKey(f.ctx, mk, c)
	require.NoError(t, err)
	assert.Equal(t, first.KeyID, again.KeyID)
	assert.Empty(t, again.Key, "the secret is shown only once")
}
