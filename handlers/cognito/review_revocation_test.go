package cognito_test

import (
	"testing"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

// On AWS the roster is changed by PATCH and DELETE /tenants/{tenant_id}/users
// and by POST /auth/logout, but Cognito, which issues and refreshes the tokens,
// is never told: commands calls DirectoryAdmin (groups, sign-out, deletion)
// and TokenRevoker (RevokeToken) only when the directory and the sign-in
// implement them, and neither does.
func TestReviewCognitoFollowsTheRosterAndRevokes(t *testing.T) {
	if _, ok := any(&cognito.Directory{}).(commands.DirectoryAdmin); !ok {
		t.Error("FINDING: cognito.Directory does not implement commands.DirectoryAdmin: on AWS a demoted admin keeps " +
			"the tenant_admin group and a removed user keeps its Cognito user, so both still log in and refresh with " +
			"their old groups (and re-adding a removed admin's email as a member keeps the old tenant_admin group)")
	}
	if _, ok := any(&cognito.Revoker{}).(commands.TokenRevoker); !ok {
		t.Error("FINDING: cognito.Revoker does not implement commands.TokenRevoker: on AWS POST /auth/logout " +
			"would revoke nothing (cmd/internal/wire's TestAPIUsersAndSessionsFollowTheRosterInCognito drives it through the api function)")
	}
}
