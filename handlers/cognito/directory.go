package cognito

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
)

// API is the part of the Cognito client this package uses; *cip.Client is one.
type API interface {
	AdminCreateUser(ctx context.Context, in *cip.AdminCreateUserInput, opts ...func(*cip.Options)) (*cip.AdminCreateUserOutput, error)
	AdminSetUserPassword(ctx context.Context, in *cip.AdminSetUserPasswordInput, opts ...func(*cip.Options)) (*cip.AdminSetUserPasswordOutput, error)
	AdminAddUserToGroup(ctx context.Context, in *cip.AdminAddUserToGroupInput, opts ...func(*cip.Options)) (*cip.AdminAddUserToGroupOutput, error)
	CreateGroup(ctx context.Context, in *cip.CreateGroupInput, opts ...func(*cip.Options)) (*cip.CreateGroupOutput, error)
	InitiateAuth(ctx context.Context, in *cip.InitiateAuthInput, opts ...func(*cip.Options)) (*cip.InitiateAuthOutput, error)
	AdminListGroupsForUser(ctx context.Context, in *cip.AdminListGroupsForUserInput, opts ...func(*cip.Options)) (*cip.AdminListGroupsForUserOutput, error)
	AdminRemoveUserFromGroup(ctx context.Context, in *cip.AdminRemoveUserFromGroupInput, opts ...func(*cip.Options)) (*cip.AdminRemoveUserFromGroupOutput, error)
	AdminUserGlobalSignOut(ctx context.Context, in *cip.AdminUserGlobalSignOutInput, opts ...func(*cip.Options)) (*cip.AdminUserGlobalSignOutOutput, error)
	AdminDeleteUser(ctx context.Context, in *cip.AdminDeleteUserInput, opts ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error)
	RevokeToken(ctx context.Context, in *cip.RevokeTokenInput, opts ...func(*cip.Options)) (*cip.RevokeTokenOutput, error)
}

var _ API = (*cip.Client)(nil)

// AttrTenantID is the custom attribute that carries the tenant into the tokens
// (custom:tenant_id); the pool's schema must define tenant_id.
const AttrTenantID = "custom:tenant_id"

// Username is the Cognito username of a tenant's user. Cognito usernames are
// unique pool-wide while our emails are unique per tenant, so the tenant is part
// of it; the email is hashed to stay under Cognito's 128 characters.
func Username(tenantID, email string) string {
	sum := sha256.Sum256([]byte(email))
	return tenantID + "." + hex.EncodeToString(sum[:16])
}

// Username implements commands.DirectoryUsernames: the roster finds the member
// a Cognito token names by it.
func (d *Directory) Username(tenantID, email string) string { return Username(tenantID, email) }

// Directory is a commands.UserDirectory on a Cognito user pool.
type Directory struct {
	Client     API
	UserPoolID string

	groups sync.Map // group name -> struct{}: groups known to exist
}

var (
	_ commands.UserDirectory      = (*Directory)(nil)
	_ commands.DirectoryAdmin     = (*Directory)(nil)
	_ commands.DirectoryPasswords = (*Directory)(nil)
)

// CreateUser creates the user with custom:tenant_id, a verified email, a
// permanent password and membership of the group named by its role. It is
// idempotent: for a user a crashed attempt left, it completes the password and
// the group, so a retried onboarding ends with a usable user.
func (d *Directory) CreateUser(ctx context.Context, u commands.DirectoryUser) error {
	if u.Role != identity.RoleTenantAdmin && u.Role != identity.RoleTenantMember {
		return fmt.Errorf("create user: unknown role %q", u.Role)
	}
	name := Username(u.TenantID, u.Email)
	_, err := d.Client.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId: aws.String(d.UserPoolID),
		Username:   aws.String(name),
		// No invitation: the user chose the password at onboarding.
		MessageAction: types.MessageActionTypeSuppress,
		UserAttributes: []types.AttributeType{
			{Name: aws.String("email"), Value: aws.String(u.Email)},
			{Name: aws.String("email_verified"), Value: aws.String("true")},
			{Name: aws.String(AttrTenantID), Value: aws.String(u.TenantID)},
		},
	})
	var exists *types.UsernameExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("admin create user %s: %w", name, err)
	}
	// AdminCreateUser leaves a temporary password (FORCE_CHANGE_PASSWORD); a
	// permanent one lets USER_PASSWORD_AUTH succeed without a challenge.
	if _, err := d.Client.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name), Password: aws.String(u.Password), Permanent: true,
	}); err != nil {
		var weak *types.InvalidPasswordException
		if errors.As(err, &weak) {
			// Our policy passed it, the pool's did not: the client can fix that.
			return &domain.Error{Code: domain.CodeInvalid, Field: "password", Message: "the password does not meet the user pool's policy", Err: err}
		}
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	if err := d.ensureGroup(ctx, u.Role); err != nil {
		return err
	}
	if _, err := d.Client.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{
		UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name), GroupName: aws.String(u.Role),
	}); err != nil {
		return fmt.Errorf("add %s to group %s: %w", name, u.Role, err)
	}
	return nil
}

// ensureGroup creates the role's group once per process; an existing group is fine.
func (d *Directory) ensureGroup(ctx context.Context, group string) error {
	if _, ok := d.groups.Load(group); ok {
		return nil
	}
	_, err := d.Client.CreateGroup(ctx, &cip.CreateGroupInput{
		UserPoolId: aws.String(d.UserPoolID), GroupName: aws.String(group),
		Description: aws.String("tenantstream role " + group),
	})
	var exists *types.GroupExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create group %s: %w", group, err)
	}
	d.groups.Store(group, struct{}{})
	return nil
}
