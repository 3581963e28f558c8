package commands_test

import (
	stdcontext "context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/events"
)

func (f *fixture) invite(t *testing.T, m commands.Meta, tid, email string, roles ...string) commands.InvitationView {
	t.Helper()
	inv, err := f.svc.CreateInvitation(f.ctx, m, commands.CreateInvitation{Tenant: tid, Email: email, Roles: roles})
	require.NoError(t, err)
	return inv
}

func accept(a *commands.Auth, token, password string) (commands.Tokens, error) {
	return a.AcceptInvitation(stdcontext.Background(), commands.Meta{}, commands.AcceptInvitation{Token: token, Password: password}, identity.ValidatePassword)
}

func TestAnInvitationMakesOneUserWhoLogsIn(t *testing.T) {
	f, a, tid, admin := membersFixture(t)
	inv := f.invite(t, admin, tid, "Carol@Acme.test", ident.RoleTenantAdmin)
	assert.Equal(t, "carol@acme.test", inv.Email)
	assert.WithinDuration(t, f.clk.Now().Add(commands.DefaultInvitationTTL), inv.ExpiresAt, time.Second)
	token := f.svc.InvitationToken(tid, inv.InvitationID)
	assert.True(t, strings.HasPrefix(token, member.InvitationPrefix))

	// Nothing stored holds the token or its secret.
	page, err := f.store.ReadAll(f.ctx, "", events.ReadOptions{Limit: 10000})
	require.NoError(t, err)
	secret := token[strings.LastIndex(token, ".")+1:]
	for _, e := range page.Events {
		assert.NotContains(t, string(e.Data), secret, "%s holds the accept token", e.Type)
	}

	// 40 accepts of one token at once: one user, and only the winner's password works.
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = accept(a, token, "Car0l-secret-pass-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "two accepts of one token succeeded")
			winner = i
		} else {
			assert.Contains(t, []domain.Code{domain.CodeInvalid, domain.CodeConflict}, code(err), "%v", err)
		}
	}
	require.GreaterOrEqual(t, winner, 0, "one accept wins: %v", errs)
	password := "Car0l-secret-pass-" + string(rune('a'+winner%26)) + string(rune('a'+winner/26))
	list, err := f.svc.ListUsers(f.ctx, admin, tid, "", 100)
	require.NoError(t, err)
	require.Len(t, list.Users, 2)
	carol := list.Users[1]
	assert.Equal(t, "carol@acme.test", carol.Email)
	assert.Equal(t, []string{ident.RoleTenantAdmin}, carol.Roles)
	assert.True(t, carol.EmailVerified, "accepting proves the address")

	login(t, a, "carol@acme.test", password)
	// The same accept again (a client retrying) gets tokens; another password does not.
	_, err = accept(a, token, password)
	require.NoError(t, err)
	_, err = accept(a, token, "An0ther-secret-pass")
	assert.Equal(t, domain.CodeInvalid, code(err))
}

func TestInvitationTokensThatCannotBeUsedAllGetOneAnswer(t *testing.T) {
	f, a, tid, admin := membersFixture(t)
	otherTid, other := f.onboard(t, "globex")
	live := f.invite(t, admin, tid, "dave@acme.test")
	token := f.svc.InvitationToken(tid, live.InvitationID)
	revoked := f.invite(t, admin, tid, "erin@acme.test")
	require.NoError(t, f.svc.RevokeInvitation(f.ctx, admin, tid, revoked.InvitationID))
	require.NoError(t, f.svc.RevokeInvitation(f.ctx, admin, tid, revoked.InvitationID), "revoking twice is no error")
	expiring := f.invite(t, admin, tid, "frank@acme.test")
	otherInv := f.invite(t, other, otherTid, "gina@globex.test")
	parsed, err := member.ParseToken(member.InvitationPrefix, token)
	require.NoError(t, err)

	expired := f.svc.InvitationToken(tid, expiring.InvitationID)

	tampered := member.Token{Prefix: member.InvitationPrefix, Tenant: tid, ID: parsed.ID, Secret: "abcdefghijklmnopqrstuvwxyz234567"}.String()
	crossTenant := member.Token{Prefix: member.InvitationPrefix, Tenant: otherTid, ID: parsed.ID, Secret: parsed.Secret}.String()
	for name, tok := range map[string]string{
		"revoked":                        f.svc.InvitationToken(tid, revoked.InvitationID),
		"tampered secret":                tampered,
		"another tenant's id in it":      crossTenant,
		"another tenant's invitation id": member.Token{Prefix: member.InvitationPrefix, Tenant: tid, ID: otherInv.InvitationID, Secret: parsed.Secret}.String(),
		"a reset token's prefix":         member.ResetPrefix + token[len(member.InvitationPrefix):],
		"a refresh token's prefix":       member.RefreshPrefix + token[len(member.InvitationPrefix):],
		"empty":                          "",
		"garbage":                        "tsi_../../etc/passwd",
		"huge":                           member.InvitationPrefix + strings.Repeat("a", 10000),
	} {
		_, err := accept(a, tok, "Val1d-password-here")
		assert.Equal(t, domain.CodeInvalid, code(err), name)
		var de *domain.Error
		if assert.ErrorAs(t, err, &de, name) {
			assert.Equal(t, "token", de.Field, name)
			assert.Equal(t, commands.ErrBadInvitationToken.Message, de.Message, "%s: one answer for every unusable token", name)
		}
	}
	// Expired: the clock moved past it.
	require.NoError(t, f.clk.Set(f.clk.Now().Add(commands.DefaultInvitationTTL+time.Minute)))
	_, err = accept(a, expired, "Val1d-password-here")
	assert.Equal(t, domain.CodeInvalid, code(err), "expired")
	list, err := f.svc.ListUsers(f.ctx, admin, tid, "", 100)
	require.NoError(t, err)
	assert.Len(t, list.Users, 1, "no unusable token made a user")
}

func TestInvitationsAreAdminsOnlyAndRefuseMembers(t *testing.T) {
	f, a, tid, admin := membersFixture(t)
	otherTid, other := f.onboard(t, "globex")
	bob := f.addMember(t, admin, tid, "bob@acme.test", "")
	_, err := f.svc.CreateInvitation(f.ctx, admin, commands.CreateInvitation{Tenant: tid, Email: "bob@acme.test"})
	assert.Equal(t, domain.CodeConflict, code(err), "a member cannot be invited")
	for name, m := range map[string]commands.Meta{
		"a member":               metaOf(tid, bob),
		"another tenant's admin": other,
		"an API key":             {Principal: ident.Principal{TenantID: tid, UserID: "key:abc", KeyID: "abc"}},
	} {
		_, err := f.svc.CreateInvitation(f.ctx, m, commands.CreateInvitation{Tenant: tid, Email: "x@acme.test"})
		assert.Equal(t, domain.CodeForbidden, code(err), name)
		_, err = f.svc.ListInvitations(f.ctx, m, tid, "", 10)
		assert.Equal(t, domain.CodeForbidden, code(err), name)
	}
	inv := f.invite(t, admin, tid, "ivy@acme.test")
	assert.Equal(t, domain.CodeNotFound, code(f.svc.RevokeInvitation(f.ctx, other, otherTid, inv.InvitationID)), "another tenant cannot revoke it")
	_, err = accept(a, f.svc.InvitationToken(tid, inv.InvitationID), "Ivy-secret-pass1")
	require.NoError(t, err, "the invitation survived the other tenant's attempt")
	assert.Equal(t, domain.CodeConflict, code(f.svc.RevokeInvitation(f.ctx, admin, tid, inv.InvitationID)), "an accepted invitation cannot be revoked")

	// A keyed create retried with another body is a 422, with the same body the first answer.
	k := admin
	k.IdempotencyKey, k.Fingerprint = "inv-1", "fp-a"
	first, err := f.svc.CreateInvitation(f.ctx, k, commands.CreateInvitation{Tenant: tid, Email: "jo@acme.test"})
	require.NoError(t, err)
	again, err := f.svc.CreateInvitation(f.ctx, k, commands.CreateInvitation{Tenant: tid, Email: "jo@acme.test"})
	require.NoError(t, err)
	assert.Equal(t, first.InvitationID, again.InvitationID)
	k.Fingerprint = "fp-b"
	_, err = f.svc.CreateInvitation(f.ctx, k, commands.CreateInvitation{Tenant: tid, Email: "kim@acme.test"})
	assert.Equal(t, domain.CodeUnprocessable, code(err))
}

// resetIDs lists the password resets the store holds for the tenant.
func (f *fixture) resetIDs(t *testing.T, tid string) []string {
	t.Helper()
	page, err := f.store.ReadTenant(f.ctx, events.TenantID(tid), "", events.ReadOptions{Limit: 10000, Types: []string{member.TypeResetRequested}})
	require.NoError(t, err)
	var ids []string
	for _, e := range page.Events {
		ids = append(ids, strings.TrimPrefix(string(e.StreamID), "pwreset-"))
	}
	return ids
}

func TestPasswordResetIsSingleUseBoundedAndSilentAboutAccounts(t *testing.T) {
	f, a, tid, admin := membersFixture(t)
	before, _ := f.store.ReadAll(f.ctx, "", events.ReadOptions{Limit: 10000})
	for name, req := range map[string]commands.RequestPasswordReset{
		"unknown tenant": {TenantName: "nobody", Email: "admin@acme.test"},
		"unknown email":  {TenantName: "acme", Email: "nobody@acme.test"},
	} {
		require.NoError(t, f.svc.RequestPasswordReset(f.ctx, commands.Meta{}, req), name)
	}
	after, _ := f.store.ReadAll(f.ctx, "", events.ReadOptions{Limit: 10000})
	assert.Len(t, after.Events, len(before.Events), "a reset for nobody writes nothing")

	session := login(t, a, "admin@acme.test", "Sup3r-secret!")
	for range commands.ResetsPerHour + 2 {
		require.NoError(t, f.svc.RequestPasswordReset(f.ctx, commands.Meta{}, commands.RequestPasswordReset{TenantName: "acme", Email: "admin@acme.test"}))
	}
	ids := f.resetIDs(t, tid)
	require.Len(t, ids, commands.ResetsPerHour, "at most %d resets an hour per account", commands.ResetsPerHour)

	confirm := func(id, password string) error {
		return f.svc.ConfirmPasswordReset(f.ctx, commands.Meta{}, commands.ConfirmPasswordReset{Token: f.svc.ResetToken(tid, id), NewPassword: password}, identity.ValidatePassword)
	}
	require.NoError(t, confirm(ids[0], "Res3t-secret-pass"))
	_, err := a.Refresh(f.ctx, session.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, code(err), "a reset ends every session")
	login(t, a, "admin@acme.test", "Res3t-secret-pass")
	assert.NoError(t, confirm(ids[0], "Res3t-secret-pass"), "the same confirm again is a retry")
	assert.Equal(t, domain.CodeInvalid, code(confirm(ids[0], "An0ther-secret-pass")), "used")
	// The reset above changed the password after ids[1] was requested: ids[1] is void.
	assert.Equal(t, domain.CodeInvalid, code(confirm(ids[1], "An0ther-secret-pass")), "a reset from before a password change")
	list, err := f.svc.ListUsers(f.ctx, admin, tid, "", 10)
	require.NoError(t, err)
	assert.True(t, list.Users[0].EmailVerified)

	// Expired.
	require.NoError(t, f.clk.Set(f.clk.Now().Add(2*time.Hour)))
	require.NoError(t, f.svc.RequestPasswordReset(f.ctx, commands.Meta{}, commands.RequestPasswordReset{TenantName: "acme", Email: "admin@acme.test"}))
	ids = f.resetIDs(t, tid)
	last := ids[len(ids)-1]
	require.NoError(t, f.clk.Set(f.clk.Now().Add(commands.ResetTTL+time.Minute)))
	assert.Equal(t, domain.CodeInvalid, code(confirm(last, "Expir3d-secret-pass")), "expired")
	// A token of another kind is no reset token.
	err = f.svc.ConfirmPasswordReset(f.ctx, commands.Meta{}, commands.ConfirmPasswordReset{Token: f.svc.InvitationToken(tid, last), NewPassword: "Val1d-password-here"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeInvalid, code(err))
}
