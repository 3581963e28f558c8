package stack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/infra/stack"
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
		// InitiateAuth only: no OAuth flow, so no implicit grant and no
		// callback a token could be sent to.
		assert.Equal(t, false, c.Properties["AllowedOAuthFlowsUserPoolClient"])
		for _, k := range []string{"AllowedOAuthFlows", "AllowedOAuthScopes", "CallbackURLs", "LogoutURLs", "DefaultRedirectURI"} {
			assert.NotContains(t, c.Properties, k)
		}
		// The tokens carry what only the platform writes: a user's own access
		// token (UpdateUserAttributes) cannot write the tenant or the email,
		// and the write list is never empty (which would mean every standard attribute).
		assert.ElementsMatch(t, toAny(identity.ClientReadAttributes), c.Properties["ReadAttributes"])
		assert.ElementsMatch(t, toAny(identity.ClientWriteAttributes), c.Properties["WriteAttributes"])
		for _, owned := range []any{"custom:tenant_id", "email", "email_verified", "phone_number", "preferred_username"} {
			assert.NotContains(t, c.Properties["WriteAttributes"], owned)
		}
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

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// envVars is a function's environment; a function without one has none.
func envVars(fn resource) map[string]any {
	env, _ := fn.Properties["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	if vars == nil {
		return map[string]any{}
	}
	return vars
}

// The user pool runs the pre token generation trigger at V2_0 (the event that
// customizes access tokens), on the Essentials plan V2_0 needs; only Cognito,
// and only for this pool, may invoke it; the function reads no table, publishes
// nothing and has an errors alarm like every function (a failing trigger fails
// every sign-in).
func TestPreTokenTrigger(t *testing.T) {
	pool := shared.logicalID(t, "AWS::Cognito::UserPool", "UserPool")
	fn := shared.logicalID(t, "AWS::Lambda::Function", "PreToken")
	p := shared.resources[pool].Properties
	assert.Equal(t, "ESSENTIALS", p["UserPoolTier"])
	assert.Equal(t, map[string]any{"PreTokenGenerationConfig": map[string]any{"LambdaArn": getAtt(fn, "Arn"), "LambdaVersion": "V2_0"}},
		p["LambdaConfig"], "V2_0, and no other trigger")

	var perms []resource
	for _, r := range shared.ofType("AWS::Lambda::Permission") {
		if refID(r.Properties["FunctionName"]) == fn {
			perms = append(perms, r)
		}
	}
	require.Len(t, perms, 1, "one grant invokes the trigger")
	assert.Equal(t, map[string]any{"Action": "lambda:InvokeFunction", "FunctionName": getAtt(fn, "Arn"),
		"Principal": "cognito-idp.amazonaws.com", "SourceArn": getAtt(pool, "Arn")}, perms[0].Properties,
		"only Cognito, for this pool: another account's pool naming this function cannot invoke it")

	f := shared.resources[fn].Properties
	assert.Empty(t, envVars(shared.resources[fn]), "no store, no topics: the trigger reads only its event")
	assert.Equal(t, float64(stack.PreTokenTimeoutSecs), f["Timeout"], "Cognito gives a trigger 5 s")
	assert.LessOrEqual(t, f["Timeout"], float64(5))
	role := refID(f["Role"])
	for _, st := range policyStatements(shared, role) {
		for _, a := range asList(st["Action"]) {
			assert.True(t, strings.HasPrefix(a.(string), "logs:"), "the trigger's role writes its logs only, not %v", a)
		}
	}
	assert.Len(t, alarmsOn(shared, "Errors", "FunctionName", fn), 1, "a failing trigger fails every sign-in")
}
