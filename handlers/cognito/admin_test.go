package cognito_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	cmdidentity "github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

// What moto (5.2) does with these calls, found by running them (docs/aws.md,
// "Users and sessions on AWS"):
//
//   - AdminUserGlobalSignOut revokes the user's refresh tokens: a refresh then
//     fails with NotAuthorizedException, as on AWS. It also forgets the access
//     tokens for moto's own token-authorized calls (GetUser); the JWTs still
//     verify against the JWKS, as on AWS, until they expire.
//   - AdminSetUserPassword and AdminDeleteUser revoke nothing by themselves; a
//     refresh with the token of a user deleted without a sign-out makes moto
//     fail with an internal error (AWS refuses it), which the sign-out before
//     the delete avoids.
//   - RevokeToken is not implemented: awstest.TokenRevocation plays it.
//   - AdminListGroupsForUser, AdminAddUserToGroup, AdminRemoveUserFromGroup
//     and AdminDeleteUser behave as on AWS, UserNotFoundException included.
//   - Token lifetimes are not applied: moto's tokens last an hour (ExpiresIn
//     3600) whatever the client's AccessTokenValidity says.

// member is a tenant ("Acme") with its admin and the member bob, each signed in.
type member struct {
	tenantID string
	admin    commands.Meta
	bob      commands.User
	bobMeta  commands.Meta
	bobToken commands.Tokens
}

func onboardWithMember(t *testing.T, e env) member {
	t.Helper()
	ctx := context.Background()
	out, err := e.svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "Acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	admin := signIn(t, e, "admin@acme.test", "Sup3r-secret!")
	bob, err := e.svc.AddUser(ctx, admin.meta, commands.AddUser{Tenant: out.TenantID, Email: "bob@acme.test", Password: "B0b-secret-pass"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	b := signIn(t, e, "bob@acme.test", "B0b-secret-pass")
	return member{tenantID: out.TenantID, admin: admin.meta, bob: bob, bobMeta: b.meta, bobToken: b.tokens}
}

type session struct {
	tokens commands.Tokens
	meta   commands.Meta
}

// signIn logs in at Acme and verifies the ID token, as the API does.
func signIn(t *testing.T, e env, email, password string) session {
	t.Helper()
	ctx := context.Background()
	tok, err := e.logins.Login(ctx, commands.Login{TenantName: "Acme", Email: email, Password: password})
	require.NoError(t, err)
	p, err := e.ver.Verify(ctx, tok.IDToken)
	require.NoError(t, err)
	return session{tokens: tok, meta: commands.Meta{Principal: p}}
}

// groups are the user's groups as moto holds them.
func groups(t *testing.T, e env, tenantID, email string) []string {
	t.Helper()
	out, err := e.client.AdminListGroupsForUser(context.Background(), &cip.AdminListGroupsForUserInput{
		UserPoolId: aws.String(e.pool.UserPoolID), Username: aws.String(cognito.Username(tenantID, email))})
	require.NoError(t, err)
	var names []string
	for _, g := range out.Groups {
		names = append(names, aws.ToString(g.GroupName))
	}
	slices.Sort(names)
	return names
}

// since returns the calls made after mark (a length of e.calls.Calls()).
func since(e env, mark int) []string { return e.calls.Calls()[mark:] }

func TestSetUserRolesMakesTheGroupsExactAndEndsRefreshes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := onboardWithMember(t, e)
	require.Equal(t, []string{identity.RoleTenantMember}, groups(t, e, m.tenantID, "bob@acme.test"))

	mark := len(e.calls.Calls())
	v, err := e.svc.SetUserRoles(ctx, m.admin, m.tenantID, m.bob.UserID, []string{identity.RoleTenantMember, identity.RoleTenantAdmin})
	require.NoError(t, err)
	assert.Equal(t, []string{identity.RoleTenantAdmin, identity.RoleTenantMember}, v.Roles)
	assert.Equal(t, []string{"AdminListGroupsForUser", "AdminAddUserToGroup", "AdminUserGlobalSignOut"}, since(e, mark))
	assert.Equal(t, []string{identity.RoleTenantAdmin, identity.RoleTenantMember}, groups(t, e, m.tenantID, "bob@acme.test"))

	// moto enforces the sign-out: bob's refresh token from before is refused.
	_, err = e.logins.Refresh(ctx, m.bobToken.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "a refresh token from before the role change")
	// The ID token he holds still verifies, with the old groups, until it
	// expires (self-contained JWTs, on AWS as on moto): the 5-minute bound.
	old, err := e.ver.Verify(ctx, m.bobToken.IDToken)
	require.NoError(t, err)
	assert.Equal(t, []string{identity.RoleTenantMember}, old.Roles)
	// A new login carries the new groups.
	fresh := signIn(t, e, "bob@acme.test", "B0b-secret-pass")
	assert.ElementsMatch(t, []string{identity.RoleTenantAdmin, identity.RoleTenantMember}, fresh.meta.Principal.Roles)

	// Demoted again: the group goes; the same roles once more change nothing
	// in the roster and still bring the directory after it (a retry).
	for range 2 {
		mark = len(e.calls.Calls())
		_, err = e.svc.SetUserRoles(ctx, m.admin, m.tenantID, m.bob.UserID, []string{identity.RoleTenantMember})
		require.NoError(t, err)
		assert.Contains(t, since(e, mark), "AdminUserGlobalSignOut")
		assert.Equal(t, []string{identity.RoleTenantMember}, groups(t, e, m.tenantID, "bob@acme.test"))
	}
	_, err = e.logins.Refresh(ctx, fresh.tokens.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
}

func TestRemoveUserDeletesTheCognitoUser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := onboardWithMember(t, e)

	mark := len(e.calls.Calls())
	require.NoError(t, e.svc.RemoveUser(ctx, m.admin, m.tenantID, m.bob.UserID))
	assert.Equal(t, []string{"AdminUserGlobalSignOut", "AdminDeleteUser"}, since(e, mark), "signed out first, then deleted")

	_, err := e.client.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(e.pool.UserPoolID), Username: aws.String(cognito.Username(m.tenantID, "bob@acme.test"))})
	var notFound *types.UserNotFoundException
	assert.ErrorAs(t, err, &notFound, "the user is gone from the pool")
	_, err = e.logins.Login(ctx, commands.Login{TenantName: "Acme", Email: "bob@acme.test", Password: "B0b-secret-pass"})
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
	_, err = e.logins.Refresh(ctx, m.bobToken.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))

	// Repeating it (the command's retry) is done, not an error.
	bob := commands.DirectoryUser{TenantID: m.tenantID, UserID: m.bob.UserID, Email: "bob@acme.test"}
	require.NoError(t, e.dir.RemoveUser(ctx, bob))
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(e.svc.RemoveUser(ctx, m.admin, m.tenantID, m.bob.UserID)))
}

// failing answers every admin call with err.
type failing struct {
	cognito.API
	err error
}

func (f failing) AdminListGroupsForUser(context.Context, *cip.AdminListGroupsForUserInput, ...func(*cip.Options)) (*cip.AdminListGroupsForUserOutput, error) {
	return nil, f.err
}

func (f failing) AdminUserGlobalSignOut(context.Context, *cip.AdminUserGlobalSignOutInput, ...func(*cip.Options)) (*cip.AdminUserGlobalSignOutOutput, error) {
	return nil, f.err
}

func (f failing) AdminDeleteUser(context.Context, *cip.AdminDeleteUserInput, ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error) {
	return nil, f.err
}

func TestDirectoryFailuresAreRetryableNotInternal(t *testing.T) {
	ctx := context.Background()
	u := commands.DirectoryUser{TenantID: "t", UserID: "u", Email: "a@x.test"}
	for name, tc := range map[string]struct {
		err  error
		code domain.Code
	}{
		"outage":       {errors.New("connection refused"), domain.CodeUnavailable},
		"rate limited": {&types.TooManyRequestsException{}, domain.CodeRateLimited},
		"user missing": {&types.UserNotFoundException{}, domain.CodeUnavailable},
	} {
		d := &cognito.Directory{Client: failing{err: tc.err}, UserPoolID: "pool"}
		assert.Equal(t, tc.code, domain.ErrorCode(d.SetRoles(ctx, u, []string{identity.RoleTenantMember})), name)
	}
	d := &cognito.Directory{Client: failing{err: &types.UserNotFoundException{}}, UserPoolID: "pool"}
	assert.NoError(t, d.RemoveUser(ctx, u), "a user already gone is removed")
}

func TestLogoutRevokesTheRefreshTokenOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := onboardWithMember(t, e)
	other := signIn(t, e, "bob@acme.test", "B0b-secret-pass")

	mark := len(e.calls.Calls())
	require.NoError(t, e.logins.Logout(ctx, m.bobToken.RefreshToken))
	assert.Equal(t, []string{"RevokeToken"}, since(e, mark))
	_, err := e.logins.Refresh(ctx, m.bobToken.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "the revoked token no longer refreshes")
	_, err = e.logins.Refresh(ctx, other.tokens.RefreshToken)
	require.NoError(t, err, "the user's other sessions are not affected")

	// RFC 7009: a token that is not (or no longer) valid is no error.
	for name, token := range map[string]string{
		"revoked again":      m.bobToken.RefreshToken,
		"an ID token":        m.bobToken.IDToken,
		"never issued":       "0123456789abcdef",
		"outside the syntax": "not a token!",
	} {
		assert.NoError(t, e.logins.Logout(ctx, token), name)
	}
	assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(e.logins.Logout(ctx, "")))

	// A client without token revocation is the deployment's fault: 503.
	e.calls.SetClient(e.pool.ClientID, awstest.RevocationClient{Enabled: false})
	assert.Equal(t, domain.CodeUnavailable, domain.ErrorCode(e.logins.Logout(ctx, other.tokens.RefreshToken)))
}

// moto itself lacks RevokeToken; should that change, the fake can go.
func TestMotoDoesNotImplementRevokeToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plain := cip.NewFromConfig(awstest.Shared(t).Config())
	r := &cognito.Revoker{Client: plain, ClientID: e.pool.ClientID}
	err := r.Revoke(ctx, "0123456789abcdef")
	assert.Equal(t, domain.CodeUnavailable, domain.ErrorCode(err), "moto's answer is a 503 here, never a 500: %v", err)
	// moto_server answers an action it lacks with a 500 and an HTML page
	// ("The revoke_token action has not been implemented").
	var re *awshttp.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 500, re.HTTPStatusCode(), "moto implements RevokeToken now: drop awstest.TokenRevocation")
}

func TestChangePasswordOnCognito(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := onboardWithMember(t, e)
	e.logins.Throttle = cmdidentity.NewThrottle(clock.NewTest(time.Now()))
	change := func(current, next string) (commands.Tokens, error) {
		return e.logins.ChangePassword(ctx, m.bobMeta, commands.ChangePassword{CurrentPassword: current, NewPassword: next, ClientIP: "192.0.2.5"}, cmdidentity.ValidatePassword)
	}

	mark := len(e.calls.Calls())
	_, err := change("Wr0ng-password!", "N3w-bob-password")
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "current_password", de.Field)
	assert.NotContains(t, since(e, mark), "AdminSetUserPassword")

	mark = len(e.calls.Calls())
	fresh, err := change("B0b-secret-pass", "N3w-bob-password")
	require.NoError(t, err)
	assert.Equal(t, []string{"InitiateAuth", "AdminSetUserPassword", "AdminUserGlobalSignOut", "InitiateAuth"}, since(e, mark))
	p, err := e.ver.Verify(ctx, fresh.IDToken)
	require.NoError(t, err)
	assert.Equal(t, m.bobMeta.Principal.UserID, p.UserID)

	_, err = e.logins.Login(ctx, commands.Login{TenantName: "Acme", Email: "bob@acme.test", Password: "B0b-secret-pass"})
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "the old password no longer signs in")
	signIn(t, e, "bob@acme.test", "N3w-bob-password")
	_, err = e.logins.Refresh(ctx, m.bobToken.RefreshToken)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "sessions from before the change end")
	_, err = e.logins.Refresh(ctx, fresh.RefreshToken)
	require.NoError(t, err, "the change's own sign-in holds")

	// Only the user's own ID token: an access token names no email.
	noEmail := m.bobMeta
	noEmail.Principal.Email = ""
	_, err = e.logins.ChangePassword(ctx, noEmail, commands.ChangePassword{CurrentPassword: "N3w-bob-password", NewPassword: "An0ther-bob-pass"}, nil)
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
}

// The pool as CreatePool makes it, which infra/ mirrors: moto stores the
// settings (and answers them back) though it does not apply the lifetimes.
func TestPoolClientRevokesAndKeepsTokensShort(t *testing.T) {
	e := newEnv(t)
	out, err := e.client.DescribeUserPoolClient(context.Background(), &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(e.pool.UserPoolID), ClientId: aws.String(e.pool.ClientID)})
	require.NoError(t, err)
	c := out.UserPoolClient
	assert.True(t, aws.ToBool(c.EnableTokenRevocation))
	assert.Equal(t, int32(5), aws.ToInt32(c.AccessTokenValidity))
	assert.Equal(t, int32(5), aws.ToInt32(c.IdTokenValidity))
	assert.Equal(t, int32(30), c.RefreshTokenValidity)
	assert.Equal(t, types.TimeUnitsTypeMinutes, c.TokenValidityUnits.AccessToken)
	assert.Equal(t, 5*time.Minute, cognito.TokenValidity)
}
