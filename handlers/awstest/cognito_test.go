package awstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenRevocationPlaysRevokeToken(t *testing.T) {
	ctx := context.Background()
	fake := &TokenRevocation{}
	c := cip.NewFromConfig(Shared(t).Config(), func(o *cip.Options) { o.APIOptions = append(o.APIOptions, fake.Middleware()) })
	pool, err := c.CreateUserPool(ctx, &cip.CreateUserPoolInput{PoolName: aws.String(fmt.Sprint("revocation-", time.Now().UnixNano()))})
	require.NoError(t, err)
	poolID := pool.UserPool.Id
	client := func(name string, revocation bool) string {
		out, err := c.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{UserPoolId: poolID, ClientName: aws.String(name),
			EnableTokenRevocation: aws.Bool(revocation),
			ExplicitAuthFlows:     []ciptypes.ExplicitAuthFlowsType{ciptypes.ExplicitAuthFlowsTypeAllowUserPasswordAuth, ciptypes.ExplicitAuthFlowsTypeAllowRefreshTokenAuth}})
		require.NoError(t, err)
		id := aws.ToString(out.UserPoolClient.ClientId)
		require.NoError(t, fake.LearnClient(ctx, c, *poolID, id))
		return id
	}
	on, off := client("on", true), client("off", false)
	_, err = c.AdminCreateUser(ctx, &cip.AdminCreateUserInput{UserPoolId: poolID, Username: aws.String("u"), MessageAction: ciptypes.MessageActionTypeSuppress})
	require.NoError(t, err)
	_, err = c.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{UserPoolId: poolID, Username: aws.String("u"), Password: aws.String("Passw0rd!x"), Permanent: true})
	require.NoError(t, err)
	login := func(clientID string) *ciptypes.AuthenticationResultType {
		out, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(clientID),
			AuthParameters: map[string]string{"USERNAME": "u", "PASSWORD": "Passw0rd!x"}})
		require.NoError(t, err)
		return out.AuthenticationResult
	}
	refresh := func(clientID, token string) error {
		_, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{AuthFlow: ciptypes.AuthFlowTypeRefreshTokenAuth, ClientId: aws.String(clientID),
			AuthParameters: map[string]string{"REFRESH_TOKEN": token}})
		return err
	}
	revoke := func(clientID, token string) error {
		_, err := c.RevokeToken(ctx, &cip.RevokeTokenInput{ClientId: aws.String(clientID), Token: aws.String(token)})
		return err
	}
	a, b, o := login(on), login(on), login(off)

	require.NoError(t, revoke(on, aws.ToString(a.RefreshToken)))
	var notAuth *ciptypes.NotAuthorizedException
	require.ErrorAs(t, refresh(on, aws.ToString(a.RefreshToken)), &notAuth)
	assert.Contains(t, aws.ToString(notAuth.Message), "revoked")
	require.NoError(t, refresh(on, aws.ToString(b.RefreshToken)), "the user's other refresh tokens hold")
	require.NoError(t, revoke(on, aws.ToString(a.RefreshToken)), "revoking twice")

	var unsupportedOp *ciptypes.UnsupportedOperationException
	assert.ErrorAs(t, revoke(off, aws.ToString(o.RefreshToken)), &unsupportedOp, "revocation disabled on the client")
	var unsupportedType *ciptypes.UnsupportedTokenTypeException
	assert.ErrorAs(t, revoke(on, aws.ToString(b.AccessToken)), &unsupportedType, "an access token")
	var invalid *ciptypes.InvalidParameterException
	assert.ErrorAs(t, revoke(on, "white space"), &invalid)
	var unauth *ciptypes.UnauthorizedException
	assert.ErrorAs(t, revoke(on, aws.ToString(o.RefreshToken)), &unauth, "another client's token")
	assert.ErrorAs(t, revoke("nope", aws.ToString(b.RefreshToken)), &unauth, "an unknown client")
	require.NoError(t, refresh(on, aws.ToString(b.RefreshToken)))

	// moto's own AdminUserGlobalSignOut revokes every refresh token, the same answer.
	_, err = c.AdminUserGlobalSignOut(ctx, &cip.AdminUserGlobalSignOutInput{UserPoolId: poolID, Username: aws.String("u")})
	require.NoError(t, err)
	require.ErrorAs(t, refresh(on, aws.ToString(b.RefreshToken)), &notAuth)
	assert.Equal(t, 1, fake.Count("AdminUserGlobalSignOut"))
	assert.Equal(t, 7, fake.Count("RevokeToken"))
}
