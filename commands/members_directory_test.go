package commands_test

import (
	"context"
	"errors"
	"slices"
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
	"github.com/tenantstream/tenantstream/events/schema"
)

// adminDirectory is a UserDirectory with DirectoryAdmin and DirectoryPasswords
// that keeps passwords by email and records its calls; fail, when set, is
// returned (once) by the next admin call. Its SignIn checks its passwords.
type adminDirectory struct {
	mu        sync.Mutex
	passwords map[string]string // tenant/email -> password
	calls     []string
	fail      error
}

func (d *adminDirectory) key(tid, email string) string { return tid + "/" + email }

func (d *adminDirectory) record(call string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
	err := d.fail
	d.fail = nil
	return err
}

func (d *adminDirectory) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func (d *adminDirectory) CreateUser(_ context.Context, u commands.DirectoryUser) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.passwords[d.key(u.TenantID, u.Email)] = u.Password
	return nil
}

func (d *adminDirectory) SetRoles(_ context.Context, u commands.DirectoryUser, roles []string) error {
	return d.record("SetRoles " + u.Email)
}

func (d *adminDirectory) RemoveUser(_ context.Context, u commands.DirectoryUser) error {
	if err := d.record("RemoveUser " + u.Email); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.passwords, d.key(u.TenantID, u.Email))
	return nil
}

func (d *adminDirectory) SetPassword(_ context.Context, u commands.DirectoryUser, password string) error {
	if err := d.record("SetPassword " + u.Email); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.passwords[d.key(u.TenantID, u.Email)] = password
	return nil
}

func (d *adminDirectory) SignIn(_ context.Context, tid events.TenantID, email, password string) (commands.Tokens, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if pw, ok := d.passwords[d.key(string(tid), email)]; !ok || pw != password {
		return commands.Tokens{}, commands.ErrBadCredentials
	}
	return commands.Tokens{AccessToken: "directory-token-" + password, TokenType: "Bearer"}, nil
}

// directoryFixture is tenant acme on a directory deployment; the admin's Meta
// carries a directory user id and the email, as a Cognito ID token does.
func directoryFixture(t *testing.T) (*fixture, *adminDirectory, *commands.Auth, string, commands.Meta) {
	t.Helper()
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &adminDirectory{passwords: map[string]string{}}
	f.svc.Users = dir
	tid, m := f.onboard(t, "acme")
	m.Principal.UserID = "cognito-sub-of-admin"
	m.Principal.Email = "admin@acme.test"
	return f, dir, &commands.Auth{Service: f.svc, SignIn: dir, Throttle: identity.NewThrottle(f.clk)}, tid, m
}

func TestDirectoryPasswordChangeChecksSetsAndSignsInAnew(t *testing.T) {
	f, dir, a, tid, m := directoryFixture(t)
	change := func(current, next string) (commands.Tokens, error) {
		return a.ChangePassword(f.ctx, m, commands.ChangePassword{CurrentPassword: current, NewPassword: next, ClientIP: "192.0.2.7"}, identity.ValidatePassword)
	}
	_, err := change("wrong-Passw0rd!", "N3w-secret-pass")
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "current_password", de.Field)
	assert.Empty(t, dir.Calls(), "a wrong current password sets nothing")

	tok, err := change("Sup3r-secret!", "N3w-secret-pass")
	require.NoError(t, err)
	assert.Equal(t, "directory-token-N3w-secret-pass", tok.AccessToken, "the answer is a sign-in with the new password")
	assert.Equal(t, []string{"SetPassword admin@acme.test"}, dir.Calls())
	_, err = dir.SignIn(f.ctx, events.TenantID(tid), "admin@acme.test", "Sup3r-secret!")
	assert.ErrorIs(t, err, commands.ErrBadCredentials)

	// The roster records it, without a hash.
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), member.RosterStreamID, 1)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	assert.Equal(t, member.TypePasswordChanged, last.Type)
	pc, err := events.DecodeAs[member.PasswordChanged](schema.Registry, last)
	require.NoError(t, err)
	assert.Equal(t, f.adminOf(t, tid), pc.UserID)
	assert.Empty(t, pc.PasswordHash)
	assert.Equal(t, member.PasswordChange, pc.Reason)

	// A directory failure surfaces; the old password still holds, so the client retries.
	dir.fail = &domain.Error{Code: domain.CodeUnavailable, Message: "the identity provider is unavailable"}
	_, err = change("N3w-secret-pass", "An0ther-secret")
	assert.Equal(t, domain.CodeUnavailable, code(err))
	_, err = change("N3w-secret-pass", "An0ther-secret")
	require.NoError(t, err)

	// The directory's own policy refusing the password names new_password.
	dir.fail = &domain.Error{Code: domain.CodeInvalid, Field: "password", Message: "the password does not meet the user pool's policy"}
	_, err = change("An0ther-secret", "Y3t-another-one")
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "new_password", de.Field)

	// Wrong guesses are throttled like logins.
	var last429 error
	for range 20 {
		if _, last429 = change("guess-Passw0rd!", "N3w-secret-pass"); code(last429) == domain.CodeRateLimited {
			break
		}
	}
	assert.Equal(t, domain.CodeRateLimited, code(last429))
}

func TestDirectoryPasswordChangeNeedsTheEmailAndAPasswordSetter(t *testing.T) {
	f, _, a, _, m := directoryFixture(t)
	noEmail := m
	noEmail.Principal.Email = ""
	_, err := a.ChangePassword(f.ctx, noEmail, commands.ChangePassword{CurrentPassword: "Sup3r-secret!", NewPassword: "N3w-secret-pass"}, nil)
	assert.Equal(t, domain.CodeForbidden, code(err), "an access token names no email")

	stranger := m
	stranger.Principal.Email = "nobody@acme.test"
	_, err = a.ChangePassword(f.ctx, stranger, commands.ChangePassword{CurrentPassword: "Sup3r-secret!", NewPassword: "N3w-secret-pass"}, nil)
	assert.Equal(t, domain.CodeUnauthenticated, code(err))

	// A directory that cannot set passwords, or no directory sign-in: 503, as before.
	f.svc.Users = createOnly{}
	_, err = a.ChangePassword(f.ctx, m, commands.ChangePassword{CurrentPassword: "Sup3r-secret!", NewPassword: "N3w-secret-pass"}, nil)
	assert.Equal(t, domain.CodeUnavailable, code(err))
}

type createOnly struct{}

func (createOnly) CreateUser(context.Context, commands.DirectoryUser) error { return nil }

// A removal whose directory part failed is completed by its retry, which still
// answers 404; once the email is a member again, a retry of the old user's
// removal leaves the directory (whose user is now the new member's) alone.
func TestRetriedRemovalCompletesTheDirectorysPart(t *testing.T) {
	f, dir, _, tid, admin := directoryFixture(t)
	bob := f.addMember(t, admin, tid, "bob@acme.test", ident.RoleTenantMember)

	dir.fail = errors.New("cognito is down")
	assert.Error(t, f.svc.RemoveUser(f.ctx, admin, tid, bob.UserID))
	assert.Equal(t, domain.CodeNotFound, code(f.svc.RemoveUser(f.ctx, admin, tid, bob.UserID)))
	assert.Equal(t, []string{"RemoveUser bob@acme.test", "RemoveUser bob@acme.test"}, dir.Calls())

	// Another request may take an email's claim over only after DirectoryClaimExpiry.
	require.NoError(t, f.clk.Set(f.clk.Now().Add(commands.DirectoryClaimExpiry+time.Hour)))
	again, err := f.svc.AddUser(f.ctx, admin, commands.AddUser{Tenant: tid, Email: "bob@acme.test", Password: "N3w-bob-secret!"}, identity.ValidatePassword)
	require.NoError(t, err)
	assert.Equal(t, domain.CodeNotFound, code(f.svc.RemoveUser(f.ctx, admin, tid, bob.UserID)))
	assert.Len(t, dir.Calls(), 2, "the new bob's directory user is not touched")
	require.NoError(t, f.svc.RemoveUser(f.ctx, admin, tid, again.UserID))
	assert.Len(t, dir.Calls(), 3)
}

// adminOf is the store's user id of the tenant's first member.
func (f *fixture) adminOf(t *testing.T, tid string) string {
	t.Helper()
	list, err := f.svc.ListUsers(f.ctx, commands.Meta{Principal: ident.Principal{UserID: "ops", Roles: []string{ident.RolePlatformAdmin}}}, tid, "", 1)
	require.NoError(t, err)
	require.NotEmpty(t, list.Users)
	return list.Users[0].UserID
}

// namedDirectory is an adminDirectory whose tokens name users as Cognito's do.
type namedDirectory struct{ *adminDirectory }

func (namedDirectory) Username(tenantID, email string) string { return tenantID + "." + email }

// TestDirectoryTokensAreCheckedAgainstTheRoster: on a directory deployment a
// token's groups are those of its sign-in; the roster, found by the token's
// username (or its email), decides whether they still hold, and who may log in.
func TestDirectoryTokensAreCheckedAgainstTheRoster(t *testing.T) {
	f, dir, a, tid, admin := directoryFixture(t)
	f.svc.Users = namedDirectory{dir}
	bob, err := f.svc.AddUser(f.ctx, admin, commands.AddUser{Tenant: tid, Email: "bob@acme.test", Password: "B0b-secret-pass", Role: ident.RoleTenantAdmin}, identity.ValidatePassword)
	require.NoError(t, err)
	// Bob's tokens, as Cognito issues them: its own subject, groups from sign-in.
	byName := commands.Meta{Principal: ident.Principal{TenantID: tid, UserID: "cognito-sub-of-bob", Username: tid + ".bob@acme.test", Roles: []string{ident.RoleTenantAdmin}}}
	byEmail := commands.Meta{Principal: ident.Principal{TenantID: tid, UserID: "cognito-sub-of-bob", Email: "bob@acme.test", Roles: []string{ident.RoleTenantAdmin}}}
	stranger := commands.Meta{Principal: ident.Principal{TenantID: tid, UserID: "cognito-sub-of-eve", Username: tid + ".eve@acme.test", Roles: []string{ident.RoleTenantAdmin}}}
	for name, m := range map[string]commands.Meta{"username": byName, "email": byEmail} {
		_, err := f.svc.ListUsers(f.ctx, m, tid, "", 10)
		require.NoError(t, err, name)
	}
	_, err = f.svc.ListUsers(f.ctx, stranger, tid, "", 10)
	assert.Equal(t, domain.CodeForbidden, code(err), "a token naming nobody on the roster is no admin")

	_, err = f.svc.SetUserRoles(f.ctx, admin, tid, bob.UserID, []string{ident.RoleTenantMember})
	require.NoError(t, err)
	for name, m := range map[string]commands.Meta{"username": byName, "email": byEmail} {
		_, err := f.svc.ListUsers(f.ctx, m, tid, "", 10)
		assert.Equal(t, domain.CodeForbidden, code(err), "%s: a demoted admin's token loses admin powers at once", name)
	}

	// Removed, but the directory still holds bob (its deletion failed): no login.
	dir.fail = &domain.Error{Code: domain.CodeUnavailable, Message: "the identity provider is unavailable"}
	assert.Equal(t, domain.CodeUnavailable, code(f.svc.RemoveUser(f.ctx, admin, tid, bob.UserID)))
	_, err = dir.SignIn(f.ctx, events.TenantID(tid), "bob@acme.test", "B0b-secret-pass")
	require.NoError(t, err, "the directory still signs bob in")
	_, err = a.Login(f.ctx, commands.Login{TenantName: "acme", Email: "bob@acme.test", Password: "B0b-secret-pass"})
	assert.Equal(t, domain.CodeUnauthenticated, code(err), "the roster decides who may log in")
}

// TestDirectoryPasswordResetSetsThePasswordInTheDirectory: on a Cognito
// deployment a reset confirmed with its token sets the password in the
// directory, once, and the roster records it (without a hash).
func TestDirectoryPasswordResetSetsThePasswordInTheDirectory(t *testing.T) {
	f, dir, _, tid, _ := directoryFixture(t)
	f.svc.ResetAnswerTime = time.Millisecond
	for range 2 {
		require.NoError(t, f.svc.RequestPasswordReset(f.ctx, commands.Meta{}, commands.RequestPasswordReset{TenantName: "acme", Email: "admin@acme.test"}))
	}
	ids := f.resetIDs(t, tid)
	require.Len(t, ids, 2)
	confirm := func(id, password string) error {
		return f.svc.ConfirmPasswordReset(f.ctx, commands.Meta{}, commands.ConfirmPasswordReset{Token: f.svc.ResetToken(tid, id), NewPassword: password}, identity.ValidatePassword)
	}
	require.NoError(t, confirm(ids[0], "Res3t-secret-pass"))
	assert.Equal(t, []string{"SetPassword admin@acme.test"}, dir.Calls())
	_, err := dir.SignIn(f.ctx, events.TenantID(tid), "admin@acme.test", "Res3t-secret-pass")
	require.NoError(t, err)
	require.NoError(t, confirm(ids[0], "Res3t-secret-pass"), "a retry")
	assert.Len(t, dir.Calls(), 1, "a retry of a done reset sets nothing again")
	assert.Equal(t, domain.CodeInvalid, code(confirm(ids[1], "Oth3r-secret-pass")), "a reset from before the change is void")
	assert.Len(t, dir.Calls(), 1)
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), member.RosterStreamID, 1)
	require.NoError(t, err)
	pc, err := events.DecodeAs[member.PasswordChanged](schema.Registry, evs[len(evs)-1])
	require.NoError(t, err)
	assert.Empty(t, pc.PasswordHash, "the directory keeps the password")
	assert.Equal(t, ids[0], pc.ResetID)

	// A directory failure records nothing; the same confirm retried completes it.
	require.NoError(t, f.clk.Set(f.clk.Now().Add(2*time.Hour)))
	require.NoError(t, f.svc.RequestPasswordReset(f.ctx, commands.Meta{}, commands.RequestPasswordReset{TenantName: "acme", Email: "admin@acme.test"}))
	ids = f.resetIDs(t, tid)
	last := ids[len(ids)-1]
	dir.fail = &domain.Error{Code: domain.CodeUnavailable, Message: "the identity provider is unavailable"}
	assert.Equal(t, domain.CodeUnavailable, code(confirm(last, "Thr33-secret-pass")))
	require.NoError(t, confirm(last, "Thr33-secret-pass"))
	_, err = dir.SignIn(f.ctx, events.TenantID(tid), "admin@acme.test", "Thr33-secret-pass")
	require.NoError(t, err)
}
