package commands_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

// busyRosterStore puts another member.added on the roster just before each
// of the first n roster appends it sees: what many AddUsers running at once
// do to each other (40 concurrent POST /tenants/{id}/users on the local
// server answered 8 of them 409).
type busyRosterStore struct {
	events.Store
	t    *testing.T
	tid  events.TenantID
	left atomic.Int32
	seq  atomic.Int32
}

func (b *busyRosterStore) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if req.Stream == member.RosterStreamID && b.left.Add(-1) >= 0 {
		i := b.seq.Add(1)
		_, err := b.Store.Append(ctx, events.AppendRequest{Tenant: b.tid, Stream: member.RosterStreamID, StreamType: member.RosterStreamType,
			Expected: events.AnyVersion, Events: []events.NewEvent{mustEvent(b.t, &member.Added{
				UserID: fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", i), Email: fmt.Sprintf("other%d@acme.test", i),
				Roles: []string{"tenant_member"}, Source: member.SourceAdmin, At: time.Now()})}})
		require.NoError(b.t, err)
	}
	return b.Store.Append(ctx, req)
}

// AddUser appends user.added, then member.added at the roster's exact
// version, giving up after maxRosterAttempts lost races with a 409 "changed
// concurrently; retry". By then the user.added is stored: the refused request
// created the user, the user is missing from GET /users, and the client's
// retry is told the email already exists.
func TestReviewAnAddUserThatLosesRosterRacesIsNotRefusedAfterWriting(t *testing.T) {
	f, _, tid, admin := membersFixture(t)
	busy := &busyRosterStore{Store: f.store, t: t, tid: events.TenantID(tid)}
	busy.left.Store(20)
	f.svc.Store = busy
	email := "carol@acme.test"
	_, err := f.svc.AddUser(f.ctx, admin, commands.AddUser{Tenant: tid, Email: email, Password: "Memb3r-secret!"}, identity.ValidatePassword)
	if err != nil {
		_, lerr := f.store.Load(f.ctx, events.TenantID(tid), events.StreamID(tenant.UserStreamID(email)), 1)
		t.Errorf("FINDING: AddUser answered %v after %d concurrent roster appends, yet stored the user (user.added "+
			"present: %v): a 4xx that changed state, the user is missing from the users list, and a retry "+
			"gets 409 \"already exists\"", err, busy.seq.Load(), lerr == nil)
		return
	}
	f.svc.Store = f.store
	list, err := f.svc.ListUsers(f.ctx, admin, tid, "", 1000)
	require.NoError(t, err)
	found := false
	for _, u := range list.Users {
		found = found || u.Email == email
	}
	assert.True(t, found)
}
