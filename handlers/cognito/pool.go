package cognito

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
)

// TokenValidity is how long the app client's access and ID tokens last: the
// local issuer's identity.DefaultTokenTTL, the bound on how long a token
// outlives a sign-out or a revocation (the verifier checks only signatures).
const TokenValidity = identity.DefaultTokenTTL

// RefreshTokenValidity is how long a refresh token lasts: the local
// sessions' commands.SessionTTL.
const RefreshTokenValidity = commands.SessionTTL

// Pool is a user pool and the app client the API signs users in with.
type Pool struct {
	UserPoolID string
	ClientID   string
}

// CreatePool creates a user pool shaped as tenantstream needs (the tenant_id
// custom attribute, usernames rather than email sign-in) and a public app client
// allowing USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH. Tests and development use
// it; production pools come from infra/.
func CreatePool(ctx context.Context, c *cip.Client, name string) (Pool, error) {
	pool, err := c.CreateUserPool(ctx, &cip.CreateUserPoolInput{
		PoolName: aws.String(name),
		Schema: []types.SchemaAttributeType{{
			Name: aws.String("tenant_id"), AttributeDataType: types.AttributeDataTypeString, Mutable: aws.Bool(false),
			StringAttributeConstraints: &types.StringAttributeConstraintsType{MinLength: aws.String("1"), MaxLength: aws.String("64")},
		}},
	})
	if err != nil {
		return Pool{}, fmt.Errorf("create user pool %s: %w", name, err)
	}
	id := aws.ToString(pool.UserPool.Id)
	client, err := c.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(id), ClientName: aws.String(name + "-api"), GenerateSecret: false,
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{types.ExplicitAuthFlowsTypeAllowUserPasswordAuth, types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth},
		// As infra/ makes it: custom:tenant_id and email are readable, never
		// writable with a user's own token; no OAuth flows (InitiateAuth only).
		ReadAttributes:  identity.ClientReadAttributes,
		WriteAttributes: identity.ClientWriteAttributes,
		// As infra/ makes it: RevokeToken works, and an access or ID token
		// outlives a revocation by at most TokenValidity.
		EnableTokenRevocation: aws.Bool(true),
		AccessTokenValidity:   aws.Int32(int32(TokenValidity / time.Minute)),
		IdTokenValidity:       aws.Int32(int32(TokenValidity / time.Minute)),
		RefreshTokenValidity:  int32(RefreshTokenValidity / (24 * time.Hour)),
		TokenValidityUnits: &types.TokenValidityUnitsType{
			AccessToken: types.TimeUnitsTypeMinutes, IdToken: types.TimeUnitsTypeMinutes, RefreshToken: types.TimeUnitsTypeDays,
		},
	})
	if err != nil {
		return Pool{}, fmt.Errorf("create user pool client for %s: %w", id, err)
	}
	return Pool{UserPoolID: id, ClientID: aws.ToString(client.UserPoolClient.ClientId)}, nil
}
