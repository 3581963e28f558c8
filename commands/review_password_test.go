package commands_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
)

// The password policy counts characters (8 to 256 runes), but Login and
// ChangePassword refuse a password longer than 256 *bytes* as missing. So a
// password the policy accepts, such as 200 characters with accents, can be set
// with POST /auth/password and then locks its user out: every login answers
// 400 and the password can no longer be changed either.
func TestReviewAPasswordThePolicyAcceptsCanLogIn(t *testing.T) {
	f, a, _, m := membersFixture(t)
	long := "Aa1!" + strings.Repeat("é", 196) // 200 characters, 396 bytes
	require.NoError(t, identity.ValidatePassword(long))
	_, err := a.ChangePassword(f.ctx, m, commands.ChangePassword{CurrentPassword: "Sup3r-secret!", NewPassword: long}, identity.ValidatePassword)
	require.NoError(t, err, "the policy accepts it, so the change is stored")

	if _, err := a.Login(f.ctx, commands.Login{TenantName: "acme", Email: "admin@acme.test", Password: long}); err != nil {
		t.Errorf("FINDING: a %d-character password the policy accepted cannot log in (%v): Login limits passwords "+
			"to 256 bytes while the policy allows 256 characters, so the user is locked out", len([]rune(long)), err)
	}
	if _, err := a.ChangePassword(f.ctx, m, commands.ChangePassword{CurrentPassword: long, NewPassword: "N3w-secret-pass"}, identity.ValidatePassword); err != nil {
		t.Errorf("FINDING: the same password cannot be changed either (%v): current_password over 256 bytes "+
			"is answered as missing", err)
	}
}
