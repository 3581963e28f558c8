package cognito

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

// TenantResolver finds a tenant by name; *commands.Service is one.
type TenantResolver interface {
	TenantByName(ctx context.Context, name string) (events.TenantID, bool, error)
}

// Logins signs users in with Cognito's USER_PASSWORD_AUTH flow and refreshes
// with REFRESH_TOKEN_AUTH; it is the httpapi.Logins of the AWS shape. The app
// client must have no secret (a public client, as for browsers) and allow both flows.
type Logins struct {
	Client   API
	ClientID string
	Tenants  TenantResolver
	// Throttle, when set, slows repeated failures before they reach Cognito
	// (which has its own, coarser, lockout).
	Throttle commands.LoginThrottle
}

var errBadCredentials = domain.Errorf(domain.CodeUnauthenticated, "wrong tenant name, email or password")

// Login checks the credentials with Cognito. Unknown tenants, unknown users and
// wrong passwords get the same error.
func (l *Logins) Login(ctx context.Context, c commands.Login) (commands.Tokens, error) {
	if c.TenantName == "" || c.Email == "" || c.Password == "" || len(c.Password) > 256 {
		return commands.Tokens{}, domain.Errorf(domain.CodeInvalid, "tenant_name, email and password are required")
	}
	email, err := tenant.NormalizeEmail(c.Email)
	if err != nil {
		return commands.Tokens{}, errBadCredentials
	}
	// The same throttle as local logins: the attempt is reserved before Cognito
	// checks the password, and given back if it never does.
	done, refund := func(bool) {}, func() {}
	if l.Throttle != nil {
		if done, refund, err = l.Throttle.Begin(commands.LoginAccount(c.TenantName, email), c.ClientIP); err != nil {
			return commands.Tokens{}, err
		}
	}
	tid, found, err := l.Tenants.TenantByName(ctx, c.TenantName)
	if err != nil {
		refund()
		return commands.Tokens{}, err
	}
	var out *cip.InitiateAuthOutput
	if found {
		out, err = l.Client.InitiateAuth(ctx, &cip.InitiateAuthInput{
			AuthFlow: types.AuthFlowTypeUserPasswordAuth,
			ClientId: aws.String(l.ClientID),
			AuthParameters: map[string]string{
				"USERNAME": Username(string(tid), email),
				"PASSWORD": c.Password,
			},
		})
	}
	if !found || isBadCredentials(err) {
		done(false)
		return commands.Tokens{}, errBadCredentials
	}
	if err != nil {
		refund()
		return commands.Tokens{}, authError("login", err)
	}
	done(true)
	return tokens(out)
}

// Refresh trades a refresh token for new access and ID tokens.
func (l *Logins) Refresh(ctx context.Context, refreshToken string) (commands.Tokens, error) {
	if refreshToken == "" || len(refreshToken) > 8192 {
		return commands.Tokens{}, domain.FieldError("refresh_token", "is required")
	}
	out, err := l.Client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		AuthFlow:       types.AuthFlowTypeRefreshTokenAuth,
		ClientId:       aws.String(l.ClientID),
		AuthParameters: map[string]string{"REFRESH_TOKEN": refreshToken},
	})
	if isBadCredentials(err) {
		return commands.Tokens{}, domain.Errorf(domain.CodeUnauthenticated, "invalid refresh token")
	}
	if err != nil {
		return commands.Tokens{}, authError("refresh", err)
	}
	t, err := tokens(out)
	// Like the local issuer, a refresh returns no new refresh token.
	t.RefreshToken = ""
	return t, err
}

func tokens(out *cip.InitiateAuthOutput) (commands.Tokens, error) {
	r := out.AuthenticationResult
	if r == nil {
		// A challenge (MFA, a forced password change) this API does not offer.
		return commands.Tokens{}, &domain.Error{Code: domain.CodeUnauthenticated, Message: "the user pool asked for a step this API does not support", Err: fmt.Errorf("challenge %s", out.ChallengeName)}
	}
	return commands.Tokens{
		AccessToken:  aws.ToString(r.AccessToken),
		IDToken:      aws.ToString(r.IdToken),
		RefreshToken: aws.ToString(r.RefreshToken),
		TokenType:    "Bearer",
		ExpiresIn:    int(r.ExpiresIn),
	}, nil
}

func isBadCredentials(err error) bool {
	var (
		notAuth   *types.NotAuthorizedException
		notFound  *types.UserNotFoundException
		reset     *types.PasswordResetRequiredException
		unconfirm *types.UserNotConfirmedException
	)
	return errors.As(err, &notAuth) || errors.As(err, &notFound) || errors.As(err, &reset) || errors.As(err, &unconfirm)
}

func authError(op string, err error) error {
	var many *types.TooManyRequestsException
	var failed *types.TooManyFailedAttemptsException
	if errors.As(err, &many) || errors.As(err, &failed) {
		return &domain.Error{Code: domain.CodeRateLimited, Message: "too many attempts; retry later", Err: err}
	}
	return &domain.Error{Code: domain.CodeUnavailable, Message: "the identity provider is unavailable", Err: fmt.Errorf("%s: %w", op, err)}
}
