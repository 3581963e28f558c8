package stack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUserPool(t *testing.T) {
	pools := shared.ofType("AWS::Cognito::UserPool")
	require.Len(t, pools, 1)
	for _, p := range pools {
		var tenantID map[string]any
		for _, a := range p.Properties["Schema"].([]any) {
			if a.(map[string]any)["Name"] == "tenant_id" {
				tenantID = a.(map[string]any)
			}
		}
		require.NotNil(t, tenantID, "custom:tenant_id in the schema")
		assert.Equal(t, false, tenantID["Mutable"], "tenant_id is immutable")
		assert.Equal(t, "String", tenantID["AttributeDataType"])
		pw := p.Properties["Policies"].(map[string]any)["PasswordPolicy"].(map[string]any)
		assert.Equal(t, map[string]any{"MinimumLength": float64(8), "RequireLowercase": true, "RequireUppercase": true,
			"RequireNumbers": true, "RequireSymbols": true}, pw)
		assert.Equal(t, true, p.Properties["AdminCreateUserConfig"].(map[string]any)["AllowAdminCreateUserOnly"], "no self sign-up")
	}
	clients := shared.ofType("AWS::Cognito::UserPoolClient")
	require.Len(t, clients, 1)
	for _, c := range clients {
		assert.ElementsMatch(t, []any{"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}, c.Properties["ExplicitAuthFlows"])
		assert.Equal(t, false, c.Properties["GenerateSecret"])
		// Logout's RevokeToken needs revocation on; a token outlives a
		// revocation by at most the local issuer's 5 minutes; refresh tokens
		// last the local sessions' 30 days (in minutes, as CDK renders them).
		assert.Equal(t, true, c.Properties["EnableTokenRevocation"])
		assert.Equal(t, float64(5), c.Properties["AccessTokenValidity"])
		assert.Equal(t, float64(5), c.Properties["IdTokenValidity"])
		assert.Equal(t, float64(30*24*60), c.Properties["RefreshTokenValidity"])
		assert.Equal(t, map[string]any{"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"}, c.Properties["TokenValidityUnits"])
	}
	var groups []any
	for _, g := range shared.ofType("AWS::Cognito::UserPoolGroup") {
		groups = append(groups, g.Properties["GroupName"])
	}
	assert.ElementsMatch(t, []any{"tenant_admin", "tenant_member", "platform_admin"}, groups)
}

// policyStatements returns the statements of every AWS::IAM::Policy attached to role.
func policyStatements(s *synthesized, role string) []map[string]any {
	var out []map[string]any
	for _, p := range s.ofType("AWS::IAM::Policy") {
		for _, r := range p.Properties["Roles"].([]any) {
			if refID(r) == role {
				for _, st := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					out = append(out, st.(map[string]any))
				}
			}
		}
	}
	return out
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func TestTenantRole(t *testing.T) {
	role := shared.logicalID(t, "AWS::IAM::Role", "TenantRole")
	apiRole := shared.logicalID(t, "AWS::IAM::Role", "ApiRole")

	trust := shared.resources[role].Properties["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
	require.Len(t, trust, 1)
	st := trust[0].(map[string]any)
	assert.ElementsMatch(t, []any{"sts:AssumeRole", "sts:TagSession"}, st["Action"], "trusted with session tags")
	assert.Equal(t, map[string]any{"AWS": getAtt(apiRole, "Arn")}, st["Principal"], "trusted by the API function's role only")
	assert.Equal(t, map[string]any{"StringLike": map[string]any{"aws:RequestTag/TenantId": "?*"}}, st["Condition"], "a session without a tenant tag is refused")

	statements := policyStatements(shared, role)
	require.NotEmpty(t, statements)
	tenantOnly := map[string]any{"ForAllValues:StringLike": map[string]any{
		"dynamodb:LeadingKeys": []any{"T#${aws:PrincipalTag/TenantId}#*"},
	}}
	sids := map[any]bool{}
	for _, s := range statements {
		sids[s["Sid"]] = true
		cond, ok := s["Condition"].(map[string]any)
		require.True(t, ok, "every statement of the tenant role is conditioned: %v", s)
		// The tenant's own prefix only: no platform keys (P#..., TENANTS), so
		// the role never reads parked events or the tenant registry.
		assert.Equal(t, tenantOnly, cond, "statement %v", s["Sid"])
		for _, a := range asList(s["Action"]) {
			assert.Regexp(t, `^dynamodb:[A-Z][A-Za-z]+$`, a, "DynamoDB only, no wildcard actions")
			assert.NotEqual(t, "dynamodb:Scan", a, "a scan has no leading key, and ForAllValues of nothing is true")
		}
		switch s["Sid"] {
		case "TenantItemsOnly":
			assert.Contains(t, asList(s["Action"]), "dynamodb:PutItem")
			assert.Len(t, asList(s["Resource"]), 2, "both tables")
		case "TenantHistoryOnly":
			assert.Equal(t, []any{"dynamodb:Query"}, asList(s["Action"]))
			res, err := json.Marshal(s["Resource"])
			require.NoError(t, err)
			assert.Contains(t, string(res), "/index/tenant-history", "the tenant-history index, which ReadTenant queries under T#<tenant>#H")
		default:
			t.Errorf("unexpected statement %v of the tenant role", s["Sid"])
		}
	}
	assert.Equal(t, map[any]bool{"TenantItemsOnly": true, "TenantHistoryOnly": true}, sids)

	var assume bool
	for _, s := range policyStatements(shared, apiRole) {
		if slicesEqual(asList(s["Action"]), []any{"sts:AssumeRole", "sts:TagSession"}) {
			assume = true
			assert.Equal(t, getAtt(role, "Arn"), s["Resource"])
		}
	}
	assert.True(t, assume, "the API function may assume the tenant role with tags")
	api := shared.resources[shared.logicalID(t, "AWS::Lambda::Function", "Api")]
	env := api.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, getAtt(role, "Arn"), env["TENANTSTREAM_TENANT_ROLE_ARN"])
}

func slicesEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The api function's role may make exactly the user-pool calls handlers/cognito
// makes, on the stack's pool only; RevokeToken and InitiateAuth are not IAM
// actions Cognito evaluates, so none is granted for them.
func TestAPIRoleUserPoolActions(t *testing.T) {
	apiRole := shared.logicalID(t, "AWS::IAM::Role", "ApiRole")
	pool := shared.logicalID(t, "AWS::Cognito::UserPool", "UserPool")
	var cognito []map[string]any
	for _, s := range policyStatements(shared, apiRole) {
		for _, a := range asList(s["Action"]) {
			if strings.HasPrefix(a.(string), "cognito-idp:") {
				cognito = append(cognito, s)
				break
			}
		}
	}
	require.Len(t, cognito, 1, "one statement grants the user-pool calls")
	st := cognito[0]
	assert.Equal(t, "Allow", st["Effect"])
	assert.Equal(t, getAtt(pool, "Arn"), st["Resource"], "the stack's pool only")
	assert.ElementsMatch(t, []any{
		"cognito-idp:AdminCreateUser", "cognito-idp:AdminSetUserPassword", "cognito-idp:CreateGroup",
		"cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminRemoveUserFromGroup", "cognito-idp:AdminListGroupsForUser",
		"cognito-idp:AdminUserGlobalSignOut", "cognito-idp:AdminDeleteUser",
	}, st["Action"])
}
