package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
)

// fakeDirectory is an in-memory UserDirectory keyed by tenant and email.
type fakeDirectory struct {
	mu    sync.Mutex
	users map[string]commands.DirectoryUser
	// completes makes CreateUser of a user it holds set its password and
	// succeed, as Cognito's AdminSetUserPassword after UsernameExists does.
	completes bool
	// delay holds every CreateUser that long first, so concurrent requests
	// all reach the directory before any of them appends.
	delay time.Duration
}

func (d *fakeDirectory) CreateUser(_ context.Context, u commands.DirectoryUser) error {
	time.Sleep(d.delay)
	d.mu.Lock()
	defer d.mu.Unlock()
	key := u.TenantID + "/" + u.Email
	if _, ok := d.users[key]; ok && !d.completes {
		return fmt.Errorf("create %s: %w", key, commands.ErrUserExists)
	}
	d.users[key] = u
	return nil
}

func TestUserDirectoryHoldsCredentialsInsteadOfEvents(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	dir := &fakeDirectory{users: map[string]commands.DirectoryUser{}}
	f.svc.Users = dir

	req := commands.Onboard{TenantName: "Dirco", Email: "Admin@Dirco.test", Password: "Sup3r-secret!"}
	out, err := f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "k1"}, req, identity.ValidatePassword)
	require.NoError(t, err)
	again, err := f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "k1"}, req, identity.ValidatePassword)
	require.NoError(t, err, "a retried onboarding finds its user in the directory")
	assert.Equal(t, out, again)
	admin := dir.users[out.TenantID+"/admin@dirco.test"]
	assert.Equal(t, commands.DirectoryUser{TenantID: out.TenantID, UserID: out.AdminUserID, Email: "admin@dirco.test", Password: "Sup3r-secret!", Role: ident.RoleTenantAdmin}, admin)

	tid, found, err := f.svc.TenantByName(f.ctx, "dirco")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, events.TenantID(out.TenantID), tid)

	m := commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
	u, err := f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: out.TenantID, Email: "member@dirco.test", Password: "An0ther-secret!"}, identity.ValidatePassword)
	require.NoError(t, err)
	assert.Equal(t, ident.RoleTenantMember, dir.users[out.TenantID+"/member@dirco.test"].Role)
	_, err = f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: out.TenantID, Email: "member@dirco.test", Password: "Thr33-secret!!"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
	assert.Equal(t, "An0ther-secret!", dir.users[out.TenantID+"/member@dirco.test"].Password, "a duplicate never reaches the directory")

	// No password hash is stored when the directory holds the credentials.
	page, err := f.store.ReadAll(f.ctx, "", events.ReadOptions{Limit: 100})
	require.NoError(t, err)
	users := 0
	for _, ev := range page.Events {
		if ev.Type != "user.added" {
			continue
		}
		users++
		var data map[string]any
		require.NoError(t, json.Unmarshal(ev.Data, &data))
		assert.Empty(t, data["password_hash"])
	}
	assert.Equal(t, 2, users)
	assert.NotEmpty(t, u.UserID)
}
