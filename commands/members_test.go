package commands_test

import (
	"fmt"
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
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

// membersFixture is tenant acme (admin@acme.test, the admin's Meta) with an
// Auth whose tokens name the user and its roles.
func membersFixture(t *testing.T) (*fixture, *commands.Auth, string, commands.Meta) {
	t.Helper()
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "acme")
	return f, &commands.Auth{Service: f.svc, Issuer: fakeIssuer{}}, tid, m
}

func (f *fixture) addMember(t *testing.T, m commands.Meta, tid, email, role string) commands.User {
	t.Helper()
	u, err := f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: email, Password: "Memb3r-secret!", Role: role}, identity.ValidatePassword)
	require.NoError(t, err)
	return u
}

func metaOf(tid string, u commands.User) commands.Meta {
	return commands.Meta{Principal: ident.Principal{TenantID: tid, UserID: u.UserID, Email: u.Email, Roles: u.Roles}}
}

func login(t *testing.T, a *commands.Auth, email, password string) commands.Tokens {
	t.Helper()
	tok, err := a.Login(t.Context(), commands.Login{TenantName: "acme", Email: email, Password: password})
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	return tok
}

func code(err error) domain.Code { return domain.ErrorCode(err) }

func TestRefreshRotatesAndAReusedTokenRevokesTheFamily(t *testing.T) {
	f, a, _, _ := membersFixture(t)
	first := login(t, a, "admin@acme.test", "Sup3r-secret!")
	assert.Regexp(t, `^tsr_`, first.RefreshToken)

	second, err := a.Refresh(f.ctx, first.RefreshToken)
	require.NoError(t, err)
	require.NotEmpty(t, second.RefreshToken)
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken, "every refresh rotates the token")
	third, err := a.Refresh(f.ctx, second.RefreshToken)
	require.NoError(t, err)

	// The first token again: a replay. The whole session goes, the newest token too.
	_, err = a.Refresh(f.ctx, first.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, code(err))
	_, err = a.Refresh(f.ctx, third.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, code(err), "a reuse revokes the whole family")

	// Another login is another session, untouched.
	other := login(t, a, "admin@acme.test", "Sup3r-secret!")
	_, err = a.Refresh(f.ctx, other.RefreshToken)
	require.NoError(t, err)
}

func TestRefreshTokensThatAreNotOursAreRefused(t *testing.T) {
	f, a, tid, _ := membersFixture(t)
	tok := login(t, a, "admin@acme.test", "Sup3r-secret!")
	parsed, err := member.ParseToken(member.RefreshPrefix, tok.RefreshToken)
	require.NoError(t, err)
	forged := member.Token{Prefix: member.RefreshPrefix, Tenant: tid, ID: parsed.ID, Secret: "abcdefghijklmnopqrstuvwxyz234567"}
	otherTenant := member.Token{Prefix: member.RefreshPrefix, Tenant: "0190aaaa-0000-7000-8000-000000000000", ID: parsed.ID, Secret: parsed.Secret}
	for name, token := range map[string]string{
		"wrong secret":     forged.String(),
		"another tenant":   otherTenant.String(),
		"a JWT":            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
		"an invitation":    member.InvitationPrefix + tok.RefreshToken[len(member.RefreshPrefix):],
		"truncated":        tok.RefreshToken[:len(tok.RefreshToken)-1],
		"unknown session":  member.Token{Prefix: member.RefreshPrefix, Tenant: tid, ID: "nope", Secret: parsed.Secret}.String(),
		"traversal in ids": member.RefreshPrefix + "../x.y.abcdefghijklmnopqrstuvwxyz234567",
	} {
		_, err := a.Refresh(f.ctx, token)
		assert.Equal(t, domain.CodeUnauthenticated, code(err), name)
	}
	// None of them touched the real session.
	_, err = a.Refresh(f.ctx, tok.RefreshToken)
	require.NoError(t, err)
}

func TestConcurrentRefreshesOfOneTokenLeaveAtMostOneWinner(t *testing.T) {
	f, a, _, _ := membersFixture(t)
	tok := login(t, a, "admin@acme.test", "Sup3r-secret!")
	const n = 40
	var wg sync.WaitGroup
	results := make([]error, n)
	fresh := make([]string, n)
	for i := range n {
		wg.Go(func() {
			t, err := a.Refresh(f.ctx, tok.RefreshToken)
			results[i], fresh[i] = err, t.RefreshToken
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range results {
		if err == nil {
			wins++
			// The winner's token dies with the family the losers' reuse revoked.
			_, err := a.Refresh(f.ctx, fresh[i])
			assert.Error(t, err)
		} else {
			assert.Equal(t, domain.CodeUnauthenticated, code(err))
		}
	}
	assert.LessOrEqual(t, wins, 1)
}

func TestLogoutRevokesTheSessionAndAnswersTheSameForAnyToken(t *testing.T) {
	f, a, _, _ := membersFixture(t)
	tok := login(t, a, "admin@acme.test", "Sup3r-secret!")
	require.NoError(t, a.Logout(f.ctx, tok.RefreshToken))
	_, err := a.Refresh(f.ctx, tok.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, code(err))
	require.NoError(t, a.Logout(f.ctx, tok.RefreshToken), "logging out twice is no error")
	require.NoError(t, a.Logout(f.ctx, "tsr_garbage"), "nor is an unknown token (RFC 7009)")
	assert.Equal(t, domain.CodeInvalid, code(a.Logout(f.ctx, "")))
}

func TestPasswordChangeRevokesEverySessionAndTheOldPassword(t *testing.T) {
	f, a, tid, m := membersFixture(t)
	s1 := login(t, a, "admin@acme.test", "Sup3r-secret!")
	s2 := login(t, a, "admin@acme.test", "Sup3r-secret!")

	_, err := a.ChangePassword(f.ctx, m, commands.ChangePassword{CurrentPassword: "wrong-password!", NewPassword: "N3w-secret-pass"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeInvalid, code(err))
	_, err = a.ChangePassword(f.ctx, m, commands.ChangePassword{CurrentPassword: "Sup3r-secret!", NewPassword: "short"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeInvalid, code(err))

	fresh, err := a.ChangePassword(f.ctx, m, commands.ChangePassword{CurrentPassword: "Sup3r-secret!", NewPassword: "N3w-secret-pass"}, identity.ValidatePassword)
	require.NoError(t, err)
	for _, old := range []commands.Tokens{s1, s2} {
		_, err := a.Refresh(f.ctx, old.RefreshToken)
		assert.Equal(t, domain.CodeUnauthenticated, code(err), "sessions from before the change end")
	}
	_, err = a.Refresh(f.ctx, fresh.RefreshToken)
	require.NoError(t, err, "the change's own new session holds")

	_, err = a.Login(f.ctx, commands.Login{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"})
	assert.Equal(t, domain.CodeUnauthenticated, code(err))
	login(t, a, "admin@acme.test", "N3w-secret-pass")

	// A key cannot change a password.
	key := commands.Meta{Principal: ident.Principal{TenantID: tid, UserID: "key:abc", KeyID: "abc"}}
	_, err = a.ChangePassword(f.ctx, key, commands.ChangePassword{CurrentPassword: "N3w-secret-pass", NewPassword: "An0ther-secret"}, nil)
	assert.Equal(t, domain.CodeForbidden, code(err))
}

func TestRoleChangeAndRemovalEndSessionsAndAdminPowersAtOnce(t *testing.T) {
	f, a, tid, admin := membersFixture(t)
	bob := f.addMember(t, admin, tid, "bob@acme.test", ident.RoleTenantAdmin)
	bobMeta := metaOf(tid, bob)
	bobSession := login(t, a, "bob@acme.test", "Memb3r-secret!")

	// Demoted: bob's refresh fails, and the admin token he still holds no longer manages users.
	v, err := f.svc.SetUserRoles(f.ctx, admin, tid, bob.UserID, []string{ident.RoleTenantMember})
	require.NoError(t, err)
	assert.Equal(t, []string{ident.RoleTenantMember}, v.Roles)
	_, err = a.Refresh(f.ctx, bobSession.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, code(err))
	_, err = f.svc.ListUsers(f.ctx, bobMeta, tid, "", 10)
	assert.Equal(t, domain.CodeForbidden, code(err), "a stale admin token is checked against the roster")

	// The same roles again change nothing and write nothing.
	before, err := f.store.Load(f.ctx, events.TenantID(tid), member.RosterStreamID, 1)
	require.NoError(t, err)
	_, err = f.svc.SetUserRoles(f.ctx, admin, tid, bob.UserID, []string{ident.RoleTenantMember, ident.RoleTenantMember})
	require.NoError(t, err)
	after, err := f.store.Load(f.ctx, events.TenantID(tid), member.RosterStreamID, 1)
	require.NoError(t, err)
	assert.Len(t, after, len(before))

	// Removed: no login, no refresh; the email can be added again as a new user.
	bobSession = login(t, a, "bob@acme.test", "Memb3r-secret!")
	require.NoError(t, f.svc.RemoveUser(f.ctx, admin, tid, bob.UserID))
	_, err = a.Refresh(f.ctx, bobSession.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, code(err))
	_, err = a.Login(f.ctx, commands.Login{TenantName: "acme", Email: "bob@acme.test", Password: "Memb3r-secret!"})
	assert.Equal(t, domain.CodeUnauthenticated, code(err))
	assert.Equal(t, domain.CodeNotFound, code(f.svc.RemoveUser(f.ctx, admin, tid, bob.UserID)))
	again := f.addMember(t, admin, tid, "bob@acme.test", ident.RoleTenantMember)
	assert.NotEqual(t, bob.UserID, again.UserID)
	login(t, a, "bob@acme.test", "Memb3r-secret!")

	list, err := f.svc.ListUsers(f.ctx, admin, tid, "", 10)
	require.NoError(t, err)
	var ids []string
	for _, u := range list.Users {
		ids = append(ids, u.UserID)
	}
	assert.Equal(t, []string{admin.Principal.UserID, again.UserID}, ids)
}

func TestTheLastAdminStays(t *testing.T) {
	f, _, tid, admin := membersFixture(t)
	assert.Equal(t, domain.CodeConflict, code(f.svc.RemoveUser(f.ctx, admin, tid, admin.Principal.UserID)))
	_, err := f.svc.SetUserRoles(f.ctx, admin, tid, admin.Principal.UserID, []string{ident.RoleTenantMember})
	assert.Equal(t, domain.CodeConflict, code(err))

	// Two admins demoting each other at once: exactly one wins.
	bob := f.addMember(t, admin, tid, "bob@acme.test", ident.RoleTenantAdmin)
	bobMeta := metaOf(tid, bob)
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() {
			_, errA = f.svc.SetUserRoles(f.ctx, admin, tid, bob.UserID, []string{ident.RoleTenantMember})
		})
		wg.Go(func() {
			errB = f.svc.RemoveUser(f.ctx, bobMeta, tid, admin.Principal.UserID)
		})
		wg.Wait()
		require.True(t, (errA == nil) != (errB == nil), "round %d: exactly one of the two wins: %v / %v", round, errA, errB)
		list, err := f.svc.ListUsers(f.ctx, commands.Meta{Principal: ident.Principal{UserID: "ops", Roles: []string{ident.RolePlatformAdmin}}}, tid, "", 100)
		require.NoError(t, err)
		admins := 0
		for _, u := range list.Users {
			for _, r := range u.Roles {
				if r == ident.RoleTenantAdmin {
					admins++
				}
			}
		}
		require.Equal(t, 1, admins)
		if errA == nil { // bob was demoted: make him admin again
			_, err = f.svc.SetUserRoles(f.ctx, admin, tid, bob.UserID, []string{ident.RoleTenantAdmin})
			require.NoError(t, err)
		} else { // the first admin was removed: bob adds a new one
			a2 := f.addMember(t, bobMeta, tid, "admin"+string(rune('a'+round))+"@acme.test", ident.RoleTenantAdmin)
			admin = metaOf(tid, a2)
		}
	}
}

func TestUserRoutesRefuseBadInputAndOtherTenants(t *testing.T) {
	f, _, tid, admin := membersFixture(t)
	otherTid, other := f.onboard(t, "globex")
	bob := f.addMember(t, admin, tid, "bob@acme.test", "")
	for name, roles := range map[string][]string{"none": nil, "unknown": {"root"}, "platform": {ident.RolePlatformAdmin}} {
		_, err := f.svc.SetUserRoles(f.ctx, admin, tid, bob.UserID, roles)
		assert.Equal(t, domain.CodeInvalid, code(err), name)
	}
	// Another tenant's admin reaches nothing of acme, even naming acme's user in its own tenant.
	_, err := f.svc.SetUserRoles(f.ctx, other, tid, bob.UserID, []string{ident.RoleTenantAdmin})
	assert.Equal(t, domain.CodeForbidden, code(err))
	_, err = f.svc.SetUserRoles(f.ctx, other, otherTid, bob.UserID, []string{ident.RoleTenantAdmin})
	assert.Equal(t, domain.CodeNotFound, code(err))
	assert.Equal(t, domain.CodeNotFound, code(f.svc.RemoveUser(f.ctx, other, otherTid, bob.UserID)))
	_, err = f.svc.ListUsers(f.ctx, other, tid, "", 10)
	assert.Equal(t, domain.CodeForbidden, code(err))
	// A member is not an admin; a key never is.
	_, err = f.svc.ListUsers(f.ctx, metaOf(tid, bob), tid, "", 10)
	assert.Equal(t, domain.CodeForbidden, code(err))
	key := commands.Meta{Principal: ident.Principal{TenantID: tid, UserID: "key:abc", KeyID: "abc", Roles: []string{ident.RoleTenantAdmin}}}
	_, err = f.svc.ListUsers(f.ctx, key, tid, "", 10)
	assert.Equal(t, domain.CodeForbidden, code(err))

	// Cursors: paging visits everyone once; a cursor of another tenant or a tampered one is a 400.
	for i := range 5 {
		f.addMember(t, admin, tid, "m"+string(rune('a'+i))+"@acme.test", "")
	}
	var seen []string
	after := ""
	for {
		page, err := f.svc.ListUsers(f.ctx, admin, tid, after, 2)
		require.NoError(t, err)
		for _, u := range page.Users {
			seen = append(seen, u.Email)
		}
		if page.NextCursor == "" {
			break
		}
		after = page.NextCursor
	}
	assert.Len(t, seen, 7)
	page, err := f.svc.ListUsers(f.ctx, admin, tid, "", 2)
	require.NoError(t, err)
	_, err = f.svc.ListUsers(f.ctx, other, otherTid, page.NextCursor, 2)
	assert.Equal(t, domain.CodeInvalid, code(err))
	_, err = f.svc.ListUsers(f.ctx, admin, tid, page.NextCursor+"x", 2)
	assert.Equal(t, domain.CodeInvalid, code(err))
}

func TestUsersFromBeforeRostersAreImported(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	hash, err := f.svc.Passwords.Hash("Legacy-secret1")
	require.NoError(t, err)
	tid := events.TenantID("0190aaaa-0000-7000-8000-00000000abcd")
	// A tenant's users as an older version wrote them: user.added only, no roster.
	for i, email := range []string{"old-admin@legacy.test", "old-member@legacy.test"} {
		role := ident.RoleTenantAdmin
		if i == 1 {
			role = ident.RoleTenantMember
		}
		_, err := f.store.Append(f.ctx, events.AppendRequest{Tenant: tid, Stream: events.StreamID(tenant.UserStreamID(email)), StreamType: tenant.UserStreamType,
			Expected: events.NoStream, Events: []events.NewEvent{mustEvent(t, &tenant.UserAdded{UserID: "u" + string(rune('1'+i)), Email: email, PasswordHash: hash, Roles: []string{role}, At: f.clk.Now()})}})
		require.NoError(t, err)
	}
	_, err = f.store.Load(f.ctx, tid, member.RosterStreamID, 1)
	require.ErrorIs(t, err, events.ErrNotFound)

	admin := commands.Meta{Principal: ident.Principal{TenantID: string(tid), UserID: "u1", Roles: []string{ident.RoleTenantAdmin}}}
	list, err := f.svc.ListUsers(f.ctx, admin, string(tid), "", 10)
	require.NoError(t, err)
	require.Len(t, list.Users, 2)
	assert.Equal(t, "old-admin@legacy.test", list.Users[0].Email)
	evs, err := f.store.Load(f.ctx, tid, member.RosterStreamID, 1)
	require.NoError(t, err)
	assert.Equal(t, member.TypeImported, evs[0].Type)

	// The member who was never admin gets no admin powers from a forged role claim.
	forged := commands.Meta{Principal: ident.Principal{TenantID: string(tid), UserID: "u2", Roles: []string{ident.RoleTenantAdmin}}}
	_, err = f.svc.ListUsers(f.ctx, forged, string(tid), "", 10)
	assert.Equal(t, domain.CodeForbidden, code(err))
}

func TestAnImportOfManyUsersWithLongEmailsFitsTheEventLimits(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid := events.TenantID("0190aaaa-0000-7000-8000-00000000beef")
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 180) + ".test"
	const n = 250
	for i := range n {
		email := fmt.Sprintf("%03d%s", i, long[3:])
		_, err := f.store.Append(f.ctx, events.AppendRequest{Tenant: tid, Stream: events.StreamID(tenant.UserStreamID(email)), StreamType: tenant.UserStreamType,
			Expected: events.NoStream, Events: []events.NewEvent{mustEvent(t, &tenant.UserAdded{UserID: fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", i), Email: email, PasswordHash: "x", Roles: []string{ident.RoleTenantAdmin, ident.RoleTenantMember}, At: f.clk.Now()})}})
		require.NoError(t, err)
	}
	admin := commands.Meta{Principal: ident.Principal{UserID: "ops", Roles: []string{ident.RolePlatformAdmin}}}
	list, err := f.svc.ListUsers(f.ctx, admin, string(tid), "", 1000)
	require.NoError(t, err)
	assert.Len(t, list.Users, n)
}

func TestANewTenantsRosterStartsWithItsAdminAdded(t *testing.T) {
	f, _, tid, admin := membersFixture(t)
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), member.RosterStreamID, 1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, member.TypeAdded, evs[0].Type, "not an import of the admin's user.added")
	assert.Equal(t, admin.Principal.UserID, evs[0].Actor)
}
