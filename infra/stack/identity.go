package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/tenantcreds"
)

// TenantKeyCondition is the dynamodb:LeadingKeys pattern of the tenant role: every
// key of a tenant's items, and the tenant-history index's partition key of its
// events (T#<tenant>#H), starts with T#<tenant>#, and the tenant comes from the
// session tag the token vendor sets (docs/ARCHITECTURE.md, decision 9d).
const TenantKeyCondition = "T#${aws:PrincipalTag/" + tenantcreds.TagKey + "}#*"

// CognitoAdminActions are the user-pool calls the api function makes with its
// role (handlers/cognito), on its pool only.
var CognitoAdminActions = []string{
	"cognito-idp:AdminCreateUser", "cognito-idp:AdminSetUserPassword", "cognito-idp:CreateGroup",
	"cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminRemoveUserFromGroup", "cognito-idp:AdminListGroupsForUser",
	"cognito-idp:AdminUserGlobalSignOut", "cognito-idp:AdminDeleteUser",
}

// identity creates the user pool, its API client and groups, and the tenant role.
func (b *builder) identity() {
	pool := awscognito.NewUserPool(b.stack, jsii.String("UserPool"), &awscognito.UserPoolProps{
		// Users are created by onboarding and tenant admins (AdminCreateUser), never by sign-up.
		SelfSignUpEnabled:   jsii.Bool(false),
		SignInAliases:       &awscognito.SignInAliases{Username: jsii.Bool(true)},
		SignInCaseSensitive: jsii.Bool(false),
		StandardAttributes: &awscognito.StandardAttributes{
			Email: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
		},
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			// Immutable: a user can never move to another tenant by editing an attribute.
			"tenant_id": awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				MinLen: jsii.Number(1), MaxLen: jsii.Number(64), Mutable: jsii.Bool(false),
			}),
		},
		// The same rules as the local issuer (commands/identity.ValidatePassword).
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:        jsii.Number(identity.MinPasswordLength),
			RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true),
			RequireDigits:    jsii.Bool(true),
			RequireSymbols:   jsii.Bool(true),
		},
		// Essentials: the V2_0 pre token generation event, which customizes
		// access tokens, needs it (Lite offers only V1_0, ID tokens).
		FeaturePlan:        awscognito.FeaturePlan_ESSENTIALS,
		AccountRecovery:    awscognito.AccountRecovery_EMAIL_ONLY,
		DeletionProtection: jsii.Bool(b.cfg.DeletionProtection),
		RemovalPolicy:      b.removalPolicy(),
	})
	suppress(pool, "AwsSolutions-COG2", "MFA is left to tenants: the API signs users in with USER_PASSWORD_AUTH for scripted clients; enable MFA per pool when a tenant requires it.")
	suppress(pool, "AwsSolutions-COG3", "Threat protection (advanced security) needs the Cognito Plus plan, a cost decision left to the operator; login throttling is done by the API (commands/identity).")
	suppress(pool, "AwsSolutions-COG8", "The Plus feature plan is a cost decision left to the operator; the Essentials plan covers what the platform uses.")
	b.res.userPool = pool
	// The access token carries the tenant (handlers/pretoken): the V2_0 event
	// customizes access tokens, V1_0 only ID tokens. CDK grants cognito-idp
	// the invocation with the pool's ARN as the source.
	pool.AddTrigger(awscognito.UserPoolOperation_PRE_TOKEN_GENERATION_CONFIG(), b.res.fns[FnPreToken], awscognito.LambdaVersion_V2_0)
	b.res.client = pool.AddClient(jsii.String("ApiClient"), &awscognito.UserPoolClientOptions{
		// A public client: the API calls InitiateAuth on behalf of users, without a secret.
		GenerateSecret: jsii.Bool(false),
		AuthFlows:      &awscognito.AuthFlow{UserPassword: jsii.Bool(true)},
		// The API signs users in with InitiateAuth: no hosted UI, so no OAuth
		// flow at all (CDK's default would allow the implicit and code grants
		// with a placeholder callback URL).
		DisableOAuth: jsii.Bool(true),
		// identity.ClientReadAttributes and ClientWriteAttributes: the tokens
		// carry email and custom:tenant_id, which only the platform's admin
		// calls write. Without a write list a user's own access token could
		// write every standard attribute, email included.
		ReadAttributes: awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true)}).WithCustomAttributes(jsii.String("tenant_id")),
		WriteAttributes: awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
			Fullname: jsii.Bool(true), Locale: jsii.Bool(true), Timezone: jsii.Bool(true),
		}),
		PreventUserExistenceErrors: jsii.Bool(true),
		// POST /auth/logout calls RevokeToken, which needs revocation enabled.
		EnableTokenRevocation: jsii.Bool(true),
		// A sign-out or revocation ends refresh tokens at once, but an access or
		// ID token already issued verifies until it expires (the authorizer and
		// the api check signatures, not Cognito): the local issuer's 5 minutes
		// is that bound here too. Refresh tokens last as local sessions do.
		AccessTokenValidity:  awscdk.Duration_Minutes(jsii.Number(identity.DefaultTokenTTL.Minutes())),
		IdTokenValidity:      awscdk.Duration_Minutes(jsii.Number(identity.DefaultTokenTTL.Minutes())),
		RefreshTokenValidity: awscdk.Duration_Days(jsii.Number(commands.SessionTTL.Hours() / 24)),
	})
	for _, g := range []string{ident.RoleTenantAdmin, ident.RoleTenantMember, ident.RolePlatformAdmin} {
		awscognito.NewCfnUserPoolGroup(b.stack, jsii.String("Group-"+g), &awscognito.CfnUserPoolGroupProps{
			UserPoolId: pool.UserPoolId(), GroupName: jsii.String(g), Description: jsii.String("tenantstream role " + g),
		})
	}

	api := b.res.fns[FnAPI]
	// The tenant role is assumed by the API function with a TenantId session tag;
	// the trust policy refuses a session without that tag.
	tenantRole := awsiam.NewRole(b.stack, jsii.String("TenantRole"), &awsiam.RoleProps{
		Description: jsii.String("Tenant-scoped data access: DynamoDB keys of the session's TenantId tag only"),
		AssumedBy: awsiam.NewSessionTagsPrincipal(awsiam.NewPrincipalWithConditions(api.Role(), &map[string]interface{}{
			"StringLike": map[string]interface{}{"aws:RequestTag/" + tenantcreds.TagKey: "?*"},
		})),
	})
	tenantRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TenantItemsOnly"),
		Actions:   jsii.Strings(append(append([]string(nil), readActions[:4]...), writeActions...)...),
		Resources: jsii.Strings(*b.res.events.TableArn(), *b.res.readModels.TableArn()),
		Conditions: &map[string]interface{}{
			"ForAllValues:StringLike": map[string]interface{}{"dynamodb:LeadingKeys": []string{TenantKeyCondition}},
		},
	}))
	tenantRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// ReadTenant queries the index under T#<tenant>#H. Nothing else of the
		// platform is granted: the registry (TENANTS) and the projections'
		// generation items (P#...) are read with the function's own role
		// (docs/aws.md, "Tenant-scoped credentials").
		Sid:       jsii.String("TenantHistoryOnly"),
		Actions:   jsii.Strings("dynamodb:Query"),
		Resources: jsii.Strings(*b.res.events.TableArn() + "/index/" + tenantIndex),
		Conditions: &map[string]interface{}{
			"ForAllValues:StringLike": map[string]interface{}{"dynamodb:LeadingKeys": []string{TenantKeyCondition}},
		},
	}))
	b.res.tenantRole = tenantRole
	api.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("sts:AssumeRole", "sts:TagSession"), Resources: jsii.Strings(*tenantRole.RoleArn()),
	}))
	api.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// Onboarding and AddUser keep credentials in Cognito (handlers/cognito);
		// CreateGroup is called once per process and finds the groups created
		// here. Role changes, removals and password changes bring the pool after
		// the roster (groups, sign-out, delete, password). InitiateAuth and
		// RevokeToken are authorized by the app client, not IAM: Cognito does not
		// evaluate IAM policies for them, so none is granted.
		Sid:       jsii.String("UserPoolAdmin"),
		Actions:   jsii.Strings(CognitoAdminActions...),
		Resources: jsii.Strings(*pool.UserPoolArn()),
	}))
	api.AddEnvironment(jsii.String(EnvUserPoolID), pool.UserPoolId(), nil)
	api.AddEnvironment(jsii.String(EnvClientID), b.res.client.UserPoolClientId(), nil)
	api.AddEnvironment(jsii.String(EnvTenantRoleARN), tenantRole.RoleArn(), nil)
	out(b.stack, "UserPoolId", pool.UserPoolId())
	out(b.stack, "UserPoolClientId", b.res.client.UserPoolClientId())
	out(b.stack, "TenantRoleArn", tenantRole.RoleArn())
}
