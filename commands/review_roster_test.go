package commands_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/events"
)

// rosterHookStore runs before, once, just before the first roster append it
// sees after being armed: it lets a test put another admin's change between a
// command's checks and its append, which is what a concurrent request does.
type rosterHookStore struct {
	events.Store
	armed  atomic.Bool
	before func()
}

func (h *rosterHookStore) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if req.Stream == member.RosterStreamID && h.armed.CompareAndSwap(true, false) {
		h.before()
	}
	return h.Store.Append(ctx, req)
}

// A roster change is authorized when the request starts (requireRole) but is
// appended later, after appendRoster's retries; the check that runs at the
// exact version it appends at never asks again whether the caller is still an
// admin. So an admin removed (or demoted) while its request is in flight still
// removes or demotes others after its own removal is stored.
func TestReviewARemovedAdminsInFlightRosterChangeIsRefused(t *testing.T) {
	for _, change := range []string{"remove", "demote"} {
		t.Run(change, func(t *testing.T) {
			f, _, tid, alice := membersFixture(t)
			bob := f.addMember(t, alice, tid, "bob@acme.test", ident.RoleTenantAdmin)
			carol := f.addMember(t, alice, tid, "carol@acme.test", ident.RoleTenantAdmin)
			hook := &rosterHookStore{Store: f.store}
			f.svc.Store = hook
			// Alice removes Bob while Bob's request against Carol is between
			// its authorization and its append.
			hook.before = func() {
				require.NoError(t, f.svc.RemoveUser(f.ctx, alice, tid, bob.UserID))
			}
			hook.armed.Store(true)
			var err error
			if change == "remove" {
				err = f.svc.RemoveUser(f.ctx, metaOf(tid, bob), tid, carol.UserID)
			} else {
				_, err = f.svc.SetUserRoles(f.ctx, metaOf(tid, bob), tid, carol.UserID, []string{ident.RoleTenantMember})
			}

			list, lerr := f.svc.ListUsers(f.ctx, alice, tid, "", 100)
			require.NoError(t, lerr)
			carolIsAdmin := false
			for _, u := range list.Users {
				if u.UserID == carol.UserID {
					carolIsAdmin = assert.ObjectsAreEqual([]string{ident.RoleTenantAdmin}, u.Roles)
				}
			}
			if err == nil || !carolIsAdmin {
				t.Errorf("FINDING: a %s by an admin who was removed while the request was in flight was applied "+
					"after the removal was stored (err=%v, carol still admin=%v): the roster's exact-version append "+
					"re-checks the last-admin rule but not the caller's own admin rights, so a removed or demoted "+
					"admin's concurrent requests still change other members' roles and memberships", change, err, carolIsAdmin)
			} else {
				assert.Equal(t, domain.CodeForbidden, code(err))
			}
		})
	}
}
