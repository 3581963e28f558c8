package cognito

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
)

// The roster's changes brought to the pool (commands.DirectoryAdmin and
// commands.DirectoryPasswords). Each call is safe to repeat: the commands run
// them after the roster changed, and again on a retry.
//
// What a global sign-out revokes (AdminUserGlobalSignOut, AWS API reference):
// every refresh token Cognito issued to the user, at once; the access and ID
// tokens already issued stay valid, as JWTs, until they expire (the verifier
// checks signatures, not Cognito), which infra/ sets to 5 minutes.

// SetRoles makes the user's groups exactly roles (AdminListGroupsForUser, then
// AdminAddUserToGroup and AdminRemoveUserFromGroup for the difference) and
// signs the user out, so the refresh tokens holding the old groups stop: the
// next login's tokens carry the new ones.
func (d *Directory) SetRoles(ctx context.Context, u commands.DirectoryUser, roles []string) error {
	name := Username(u.TenantID, u.Email)
	current, err := d.groupsOf(ctx, name)
	if err != nil {
		return err
	}
	for _, r := range roles {
		if slices.Contains(current, r) {
			continue
		}
		if err := d.ensureGroup(ctx, r); err != nil {
			return adminError("create group", err)
		}
		if _, err := d.Client.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{
			UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name), GroupName: aws.String(r),
		}); err != nil {
			return adminError("add "+name+" to group "+r, err)
		}
	}
	for _, g := range current {
		if slices.Contains(roles, g) {
			continue
		}
		_, err := d.Client.AdminRemoveUserFromGroup(ctx, &cip.AdminRemoveUserFromGroupInput{
			UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name), GroupName: aws.String(g),
		})
		var gone *types.ResourceNotFoundException // the group itself was deleted meanwhile
		if err != nil && !errors.As(err, &gone) {
			return adminError("remove "+name+" from group "+g, err)
		}
	}
	return d.signOut(ctx, name, false)
}

// groupsOf lists every group of the user, all pages.
func (d *Directory) groupsOf(ctx context.Context, name string) ([]string, error) {
	var out []string
	in := &cip.AdminListGroupsForUserInput{UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name), Limit: aws.Int32(60)}
	for {
		page, err := d.Client.AdminListGroupsForUser(ctx, in)
		if err != nil {
			return nil, adminError("list groups of "+name, err)
		}
		for _, g := range page.Groups {
			out = append(out, aws.ToString(g.GroupName))
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// RemoveUser signs the user out (refresh tokens first, while the user still
// exists to be signed out) and deletes it. A user already gone is done.
func (d *Directory) RemoveUser(ctx context.Context, u commands.DirectoryUser) error {
	name := Username(u.TenantID, u.Email)
	if err := d.signOut(ctx, name, true); err != nil {
		return err
	}
	_, err := d.Client.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name)})
	var notFound *types.UserNotFoundException
	if err != nil && !errors.As(err, &notFound) {
		return adminError("delete user "+name, err)
	}
	return nil
}

// SetPassword sets a permanent password (AdminSetUserPassword, which revokes
// nothing by itself) and signs the user out, so every refresh token issued
// with the old password stops.
func (d *Directory) SetPassword(ctx context.Context, u commands.DirectoryUser, password string) error {
	name := Username(u.TenantID, u.Email)
	if _, err := d.Client.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name), Password: aws.String(password), Permanent: true,
	}); err != nil {
		var weak *types.InvalidPasswordException
		if errors.As(err, &weak) {
			return &domain.Error{Code: domain.CodeInvalid, Field: "password", Message: "the password does not meet the user pool's policy", Err: err}
		}
		return adminError("set password of "+name, err)
	}
	return d.signOut(ctx, name, false)
}

// signOut revokes the user's refresh tokens (AdminUserGlobalSignOut); with
// goneOK a user that does not exist is no error.
func (d *Directory) signOut(ctx context.Context, name string, goneOK bool) error {
	_, err := d.Client.AdminUserGlobalSignOut(ctx, &cip.AdminUserGlobalSignOutInput{UserPoolId: aws.String(d.UserPoolID), Username: aws.String(name)})
	var notFound *types.UserNotFoundException
	if err == nil || goneOK && errors.As(err, &notFound) {
		return nil
	}
	return adminError("global sign-out of "+name, err)
}

// adminError turns a failed admin call into a domain error: Cognito's rate
// limits are 429s, anything else a 503 to retry (the roster already holds the
// change, and a retry repeats these calls).
func adminError(op string, err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	var many *types.TooManyRequestsException
	if errors.As(err, &many) {
		return &domain.Error{Code: domain.CodeRateLimited, Message: "the identity provider is busy; retry later", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return &domain.Error{Code: domain.CodeUnavailable, Message: "the identity provider did not take the change; retry", Err: fmt.Errorf("%s: %w", op, err)}
}
