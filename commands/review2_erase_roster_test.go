package commands_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
)

// FINDING: eraseOnce forgets only the item cache; the roster cache (commands/
// members.go) keeps the erased tenant's member emails in plaintext, and
// ListUsers (which has no requireReadable) serves them after the erasure, to
// the operator and to any still-valid admin token or API key of the tenant.
func TestReview2ErasureForgetsCachedEmails(t *testing.T) {
	f, sealed := sealedFixture(t)
	victim, admin := f.onboard(t, "victim")
	before, err := f.svc.ListUsers(f.ctx, admin, victim, "", 100)
	require.NoError(t, err)
	b, _ := json.Marshal(before)
	require.Contains(t, string(b), "admin@victim.test", "warm: the roster cache holds the email")

	_, err = f.svc.EraseTenant(f.ctx, platformAdmin, victim, sealed)
	require.NoError(t, err)

	// Control: a process without the cache answers no email.
	fresh := &commands.Service{Store: sealed, Reader: f.svc.Reader, Clock: f.svc.Clock, Plans: f.svc.Plans}
	if got, err := fresh.ListUsers(f.ctx, platformAdmin, victim, "", 100); err == nil {
		j, _ := json.Marshal(got)
		require.NotContains(t, string(j), "admin@victim.test", "control")
	}
	for name, m := range map[string]any{"operator": platformAdmin, "tenant admin": admin} {
		_ = m
		var out any
		if name == "operator" {
			out, err = f.svc.ListUsers(f.ctx, platformAdmin, victim, "", 100)
		} else {
			out, err = f.svc.ListUsers(f.ctx, admin, victim, "", 100)
		}
		if err != nil {
			continue // refused: fine
		}
		j, _ := json.Marshal(out)
		assert.NotContains(t, string(j), "admin@victim.test", "%s: an erased tenant's email is served after erasure", name)
	}
}
