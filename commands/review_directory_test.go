package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
)

// With a UserDirectory (Cognito on AWS) requireRole trusts the token's groups
// and skips the roster, and no directory implements DirectoryAdmin, so
// nothing brings Cognito's groups after the roster either: a demoted or
// removed admin keeps every admin power (docs/api.md promises it loses them
// at once, and that a removal revokes the user's sessions).
func TestReviewWithADirectoryADemotedOrRemovedAdminLosesAdminRights(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}}
	f.svc.Users = dir
	tid, alice := f.onboard(t, "dirco")
	bob := f.addMember(t, alice, tid, "bob@dirco.test", ident.RoleTenantAdmin)
	carol := f.addMember(t, alice, tid, "carol@dirco.test", ident.RoleTenantAdmin)

	_, err := f.svc.SetUserRoles(f.ctx, alice, tid, bob.UserID, []string{ident.RoleTenantMember})
	require.NoError(t, err)
	require.NoError(t, f.svc.RemoveUser(f.ctx, alice, tid, carol.UserID))

	// Their tokens (Cognito's, still carrying the tenant_admin group until
	// they expire, an hour by default) on admin routes.
	for name, m := range map[string]commands.Meta{"demoted bob": metaOf(tid, bob), "removed carol": metaOf(tid, carol)} {
		_, err := f.svc.ListUsers(f.ctx, m, tid, "", 10)
		if code(err) != domain.CodeForbidden {
			t.Errorf("FINDING: with a user directory (AWS), %s's admin token still lists users (err=%v): requireRole "+
				"skips the roster when Service.Users is set, and no UserDirectory implements DirectoryAdmin, so "+
				"PATCH/DELETE /tenants/{tenant_id}/users change only the roster and the user keeps admin powers", name, err)
		}
	}
}

// idpFake stands in for Cognito's SignIn, Refresher (and, where the wiring
// sets one, Revoker): it knows the users the directory created and hands out
// opaque refresh tokens, as Cognito does.
type idpFake struct {
	dir     *fakeDirectory
	revoked map[string]bool
}

func (p *idpFake) SignIn(_ context.Context, tid events.TenantID, email, password string) (commands.Tokens, error) {
	p.dir.mu.Lock()
	defer p.dir.mu.Unlock()
	u, ok := p.dir.users[string(tid)+"/"+email]
	if !ok || u.Password != password {
		return commands.Tokens{}, commands.ErrBadCredentials
	}
	return commands.Tokens{AccessToken: "cognito-access-" + u.UserID, RefreshToken: "cognito-refresh-" + u.UserID}, nil
}

func (p *idpFake) Refresh(_ context.Context, token string) (commands.Tokens, error) {
	if p.revoked[token] {
		return commands.Tokens{}, commands.ErrBadRefreshToken
	}
	return commands.Tokens{AccessToken: "cognito-access"}, nil
}

// On AWS the api function's Auth has Cognito as SignIn and Refresher but no
// Revoker (cmd/internal/wire/api.go), so POST /auth/logout falls through to
// the local sessions, cannot parse Cognito's token and answers 204 while the
// refresh token keeps working for its 30 days. And a removed user still signs
// in: the directory user is never deleted and SignIn does not ask the roster.
func TestReviewWithAnIdentityProviderLogoutAndRemovalRevoke(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}}
	f.svc.Users = dir
	tid, alice := f.onboard(t, "dirco")
	bob := f.addMember(t, alice, tid, "bob@dirco.test", ident.RoleTenantMember)
	idp := &idpFake{dir: dir, revoked: map[string]bool{}}
	// As cmd/internal/wire/api.go builds it on AWS.
	a := &commands.Auth{Service: f.svc, SignIn: idp, Refresher: idp}

	tok, err := a.Login(f.ctx, commands.Login{TenantName: "dirco", Email: "bob@dirco.test", Password: "Memb3r-secret!"})
	require.NoError(t, err)
	logoutErr := a.Logout(f.ctx, tok.RefreshToken)
	if _, err := idp.Refresh(f.ctx, tok.RefreshToken); logoutErr == nil && err == nil {
		t.Errorf("FINDING: with an identity provider and no Revoker (the AWS wiring), Logout answers success (204) " +
			"but revokes nothing: the refresh token still refreshes for its whole life")
	}

	require.NoError(t, f.svc.RemoveUser(f.ctx, alice, tid, bob.UserID))
	if _, err := a.Login(f.ctx, commands.Login{TenantName: "dirco", Email: "bob@dirco.test", Password: "Memb3r-secret!"}); code(err) != domain.CodeUnauthenticated {
		t.Errorf("FINDING: with a user directory (AWS) a removed user still logs in (err=%v): RemoveUser changes only "+
			"the roster, the directory user is not deleted and Login does not check the roster", err)
	}
}
