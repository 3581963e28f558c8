package lambda_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/cmd/lambda/internal/rie"
	"github.com/tenantstream/tenantstream/commands"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

// The pre-token binary behind the emulator, with one event made as Cognito
// makes it for a user the platform created (handlers/cognito.Directory on moto:
// moto keeps the attributes and groups but never invokes triggers): the access
// token gets the user's tenant and verified email, the groups are left alone,
// and a V1_0 event fails the invocation (so Cognito fails the sign-in).
func TestPreTokenThroughRuntimeInterfaceEmulator(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	client := cip.NewFromConfig(moto.Config())
	pool, err := cognito.CreatePool(ctx, client, "tenantstream-pretoken")
	require.NoError(t, err)
	const tenant = "0196f2b4-0000-7000-8000-000000000001"
	dir := &cognito.Directory{Client: client, UserPoolID: pool.UserPoolID}
	require.NoError(t, dir.CreateUser(ctx, commands.DirectoryUser{TenantID: tenant, UserID: "u1", Email: "admin@acme.test",
		Password: "Sup3r-secret!", Role: ident.RoleTenantAdmin}))

	// The event Cognito sends on a password sign-in: the user's attributes and groups.
	name := cognito.Username(tenant, "admin@acme.test")
	user, err := client.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(pool.UserPoolID), Username: aws.String(name)})
	require.NoError(t, err)
	groups, err := client.AdminListGroupsForUser(ctx, &cip.AdminListGroupsForUserInput{UserPoolId: aws.String(pool.UserPoolID), Username: aws.String(name)})
	require.NoError(t, err)
	ev := events.CognitoEventUserPoolsPreTokenGenV2_0{
		CognitoEventUserPoolsHeader: events.CognitoEventUserPoolsHeader{Version: "2", TriggerSource: "TokenGeneration_Authentication",
			Region: awstest.Region, UserPoolID: pool.UserPoolID, UserName: name,
			CallerContext: events.CognitoEventUserPoolsCallerContext{AWSSDKVersion: "aws-sdk-go-v2", ClientID: pool.ClientID}},
		Request: events.CognitoEventUserPoolsPreTokenGenRequestV2_0{UserAttributes: map[string]string{"cognito:user_status": string(user.UserStatus)},
			Scopes: []string{"aws.cognito.signin.user.admin"}},
	}
	for _, a := range user.UserAttributes {
		ev.Request.UserAttributes[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	for _, g := range groups.Groups {
		ev.Request.GroupConfiguration.GroupsToOverride = append(ev.Request.GroupConfiguration.GroupsToOverride, aws.ToString(g.GroupName))
	}
	require.Equal(t, tenant, ev.Request.UserAttributes[cognito.AttrTenantID], "the directory wrote the tenant attribute")

	fn := rie.Start(t, "pre-token", rie.Emulator(t), rie.Build(t, "./pre-token"), "AWS_LAMBDA_FUNCTION_NAME=pre-token")
	raw, err := fn.InvokeRaw(ev)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	details, ok := out["response"].(map[string]any)["claimsAndScopeOverrideDetails"].(map[string]any)
	require.True(t, ok, "%s", raw)
	assert.Equal(t, map[string]any{"accessTokenGeneration": map[string]any{"claimsToAddOrOverride": map[string]any{
		"custom:tenant_id": tenant, "email": "admin@acme.test"}}}, details, "only the access token changes; the groups stay")
	assert.Equal(t, []any{ident.RoleTenantAdmin}, out["request"].(map[string]any)["groupConfiguration"].(map[string]any)["groupsToOverride"])

	// A trigger left at V1_0 fails the sign-in rather than issuing access tokens without the tenant.
	ev.Version = "1"
	_, err = fn.InvokeRaw(ev)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "V2_0"), err.Error())
}
