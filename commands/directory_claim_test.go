package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
)

// with a UserDirectory (Cognito, on AWS) the user.added event holds no
// password hash, so a keyed retry of POST /tenants/{id}/users with another
// password is answered 201 with the first user, and the directory keeps the
// first password. docs/api.md says the retry's password is checked against the
// first attempt's argon2id hash and another password is a 422: the client
// believes the user's password is the second one.
func TestKeyedAddUserRetryWithAnotherPasswordIsRefusedWithADirectory(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}}
	f.svc.Users = dir
	tid, m := f.onboard(t, "dirretry")

	mk := m
	mk.IdempotencyKey, mk.Fingerprint = "K", "email=bob"
	_, err := f.svc.AddUser(f.ctx, mk, commands.AddUser{Tenant: tid, Email: "bob@dirretry.test", Password: "F1rst-secret!"}, identity.ValidatePassword)
	require.NoError(t, err)
	_, err = f.svc.AddUser(f.ctx, mk, commands.AddUser{Tenant: tid, Email: "bob@dirretry.test", Password: "Sec0nd-secret!"}, identity.ValidatePassword)
	require.Error(t, err, "a keyed retry with another password was answered 201 (directory keeps %q)", dir.users[tid+"/bob@dirretry.test"].Password)
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "the retry's password differs from the first attempt's (directory keeps %q)",
		dir.users[tid+"/bob@dirretry.test"].Password)
}

// with a UserDirectory, AddUser creates the directory user before the
// keyed append decides. Concurrent requests with one Idempotency-Key and
// different emails all pass the key lookup, all create their directory user,
// and all but one are answered 422 "changes nothing", leaving directory users
// with passwords and no user.added event. A later AddUser of such an email
// finds ErrUserExists, takes it as its own crashed attempt, and the user ends up
// with the 422'd request's password, not the one just sent.
func TestAddUserRefusedForItsKeyLeavesNoDirectoryUser(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}}
	f.svc.Users = dir
	tid, m := f.onboard(t, "dirrace")
	before := len(dir.users)
	const n = 6
	f.svc.Store = newBarrierStore(f.store, n)

	codes := make([]domain.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			mk := m
			mk.IdempotencyKey, mk.Fingerprint = "one-key", fmt.Sprintf("user-%d", i)
			_, err := f.svc.AddUser(f.ctx, mk, commands.AddUser{Tenant: tid, Email: fmt.Sprintf("u%d@dirrace.test", i), Password: "Racer-secret1!"}, identity.ValidatePassword)
			if err != nil {
				codes[i] = domain.ErrorCode(err)
			}
		})
	}
	wg.Wait()
	f.svc.Store = f.store

	created := 0
	for _, c := range codes {
		if c == "" {
			created++
		}
	}
	require.Equal(t, 1, created, "one request wins the key: %v", codes)
	assert.Equal(t, created, len(dir.users)-before, "every 422'd request left a user in the directory: %v", codes)
}

// Without keys, two requests adding one email race for its claim: one user is
// created, the other request is a 409 that never reaches the directory, so the
// user's password is the winner's.
func TestConcurrentAddUsersOfOneEmailSetOnePassword(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}, completes: true, delay: 50 * time.Millisecond}
	f.svc.Users = dir
	tid, m := f.onboard(t, "dirsame")

	const n = 8
	codes := make([]domain.Code, n)
	users := make([]commands.User, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u, err := f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: "same@dirsame.test", Password: fmt.Sprintf("Racer-secret-%d", i)}, identity.ValidatePassword)
			users[i] = u
			if err != nil {
				codes[i] = domain.ErrorCode(err)
			}
		})
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		if c == "" {
			require.Equal(t, -1, winner, "two requests created the user: %v", codes)
			winner = i
		} else {
			assert.Equal(t, domain.CodeConflict, c)
		}
	}
	require.NotEqual(t, -1, winner, "no request created the user: %v", codes)
	got := dir.users[tid+"/same@dirsame.test"]
	assert.Equal(t, fmt.Sprintf("Racer-secret-%d", winner), got.Password, "the directory holds the winner's password")
	assert.Equal(t, users[winner].UserID, got.UserID)
}

// A keyed AddUser that crashed after its claim (and after the directory call)
// is resumed by its retry: while the claim is fresh the retry is told the
// request is in progress; once the claim outlived its lease the retry adds the
// claimed user, with the claim's user id, once. The claim's password verifier
// never leaves through the events log.
func TestKeyedAddUserResumesAnAbandonedClaim(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}}
	f.svc.Users = dir
	tid, m := f.onboard(t, "dircrash")
	mk := m
	mk.IdempotencyKey, mk.Fingerprint = "K", "email=carol"
	add := commands.AddUser{Tenant: tid, Email: "carol@dircrash.test", Password: "Car0l-secret!"}

	// The crashed attempt: the claim and the directory user, no user.added.
	crash := &failingUserAppend{Store: f.store}
	f.svc.Store = crash
	_, err := f.svc.AddUser(f.ctx, mk, add, identity.ValidatePassword)
	require.Error(t, err)
	f.svc.Store = f.store
	require.Contains(t, dir.users, tid+"/carol@dircrash.test", "the crashed attempt reached the directory")

	start := time.Now()
	_, err = f.svc.AddUser(f.ctx, mk, add, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "the claim is fresh: the first attempt may still be running")
	assert.Less(t, time.Since(start), 5*time.Second)

	other := add
	other.Password = "N0t-carols-secret!"
	_, err = f.svc.AddUser(f.ctx, mk, other, identity.ValidatePassword)
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "another password is another request")

	require.NoError(t, f.clk.Set(f.clk.Now().Add(commands.ClaimLease)))
	u, err := f.svc.AddUser(f.ctx, mk, add, identity.ValidatePassword)
	require.NoError(t, err)
	assert.Equal(t, dir.users[tid+"/carol@dircrash.test"].UserID, u.UserID, "the user has the claim's id")
	again, err := f.svc.AddUser(f.ctx, mk, add, identity.ValidatePassword)
	require.NoError(t, err)
	assert.Equal(t, u, again)

	page, err := f.svc.EventLog(f.ctx, m, tid, "", 100)
	require.NoError(t, err)
	claims := 0
	for _, ev := range page.Events {
		if ev.Type == "user.claimed" {
			claims++
			assert.NotContains(t, string(ev.Data), "argon2", "the claim's verifier is redacted")
		}
	}
	assert.Equal(t, 1, claims)
}

// failingUserAppend fails every user.added append, as a crash between the
// directory call and the append would leave things.
type failingUserAppend struct{ *memstore.Store }

func (s *failingUserAppend) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if req.StreamType == "user" {
		return events.AppendResult{}, errors.New("crash")
	}
	return s.Store.Append(ctx, req)
}

// Without a key, the same password with another role is another request: it
// does not resume a pending claim (and so never silently gets the claim's role).
func TestAnotherRoleDoesNotResumeAClaim(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}}
	f.svc.Users = dir
	tid, m := f.onboard(t, "dirrole")
	add := commands.AddUser{Tenant: tid, Email: "dan@dirrole.test", Password: "D4n-secret!!", Role: "tenant_member"}
	f.svc.Store = &failingUserAppend{Store: f.store}
	_, err := f.svc.AddUser(f.ctx, m, add, identity.ValidatePassword)
	require.Error(t, err)
	f.svc.Store = f.store

	admin := add
	admin.Role = "tenant_admin"
	start := time.Now()
	_, err = f.svc.AddUser(f.ctx, m, admin, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
	assert.Less(t, time.Since(start), time.Second, "refused at once, not waited on")
	require.NoError(t, f.clk.Set(f.clk.Now().Add(commands.ClaimLease)))
	u, err := f.svc.AddUser(f.ctx, m, add, identity.ValidatePassword)
	require.NoError(t, err, "the same request resumes the claim after its lease")
	assert.Equal(t, []string{"tenant_member"}, u.Roles)
}
