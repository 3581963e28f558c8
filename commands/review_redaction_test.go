package commands_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/projections"
)

// The events log promises that secrets never leave through it, even to an
// admin. redactSecrets knows password_hash, secret_hash, refresh_hash and
// token_hash, but not tenant.name_reserved's password_verifier (an argon2id
// hash of the admin's onboarding password): a platform admin reading the
// platform tenant's log sees the verifier of every tenant admin's password.
func TestReviewTheEventsLogShowsNoPasswordVerifier(t *testing.T) {
	f, _, _, _ := membersFixture(t)
	ops := commands.Meta{Principal: ident.Principal{UserID: "ops", Roles: []string{ident.RolePlatformAdmin}}}
	page, err := f.svc.EventLog(f.ctx, ops, string(projections.PlatformTenant), "", 1000)
	require.NoError(t, err)
	require.NotEmpty(t, page.Events)
	for _, e := range page.Events {
		if strings.Contains(string(e.Data), "$argon2") {
			t.Errorf("FINDING: GET /tenants/%s/events shows a password hash in %s: %s (redactSecrets does not "+
				"know password_verifier; an offline-guessable hash of each tenant admin's password leaks to whoever "+
				"reads the platform's log)", projections.PlatformTenant, e.Type, e.Data)
		}
	}
}

// redactSecrets decodes an event that mentions a secret field anywhere (an
// item whose data has a "token_hash" member, say) into map[string]any and
// encodes it again: the tenant's own item data then shows in the events log
// with its numbers turned into float64s (and its keys re-ordered), so the log
// no longer shows what was stored.
func TestReviewRedactionLeavesTheRestOfAnEventAsStored(t *testing.T) {
	f, _, tid, admin := membersFixture(t)
	data := json.RawMessage(`{"order_id":12345678901234567890,"webhook":{"token_hash":"not ours"}}`)
	_, err := f.svc.PutItem(f.ctx, admin, commands.PutItem{Tenant: tid, ItemID: "order-1", Data: data})
	require.NoError(t, err)
	page, err := f.svc.EventLog(f.ctx, admin, tid, "", 1000)
	require.NoError(t, err)
	found := false
	for _, e := range page.Events {
		if e.Type != item.TypePut {
			continue
		}
		found = true
		if !strings.Contains(string(e.Data), "12345678901234567890") {
			t.Errorf("FINDING: the events log altered an item's data while redacting: stored %s, shown %s "+
				"(redactField round-trips the whole event through map[string]any, so large integers lose "+
				"precision; only the named top-level member should change)", data, e.Data)
		}
	}
	require.True(t, found)
}
