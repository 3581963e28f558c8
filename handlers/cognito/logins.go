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
	"github.com/tenantstream/tenantstream/events"
)

// SignIn checks passwords with Cognito's USER_PASSWORD_AUTH flow and refreshes
// with REFRESH_TOKEN_AUTH: the commands.PasswordSignIn and TokenRefresher of the
// AWS shape, behind commands.Auth, which owns validation, throttling and the
// bad-credentials answer. The app client must have no secret (a public client,
// as for browsers) and allow both flows.
type SignIn struct {
	Client   API
	ClientID string
}

var (
	_ commands.PasswordSignIn = (*SignIn)(nil)
	_ commands.TokenRefresher = (*SignIn)(nil)
)

// SignIn implements commands.PasswordSignIn. An unknown tenant makes no call:
// Cognito is not asked about users that cannot exist.
func (s *SignIn) SignIn(ctx context.Context, tid events.TenantID, email, password string) (commands.Tokens, error) {
	if tid == "" {
		return commands.Tokens{}, commands.ErrBadCredentials
	}
	out, err := s.Client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		AuthFlow: types.AuthFlowTypeUserPasswordAuth,
		ClientId: aws.String(s.ClientID),
		AuthParameters: map[string]string{
			"USERNAME": Username(string(tid), email),
			"PASSWORD": password,
		},
	})
	if isBadCredentials(err) {
		return commands.Tokens{}, commands.ErrBadCredentials
	}
	if err != nil {
		return commands.Tokens{}, authError("login", err)
	}
	return tokens(out)
}

// Refresh implements commands.TokenRefresher.
func (s *SignIn) Refresh(ctx context.Context, refreshToken string) (commands.Tokens, error) {
	out, err := s.Client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		AuthFlow:       types.AuthFlowTypeRefreshTokenAuth,
		ClientId:       aws.String(s.ClientID),
		AuthParameters: map[string]string{"REFRESH_TOKEN": refreshToken},
	})
	if isBadCredentials(err) {
		return commands.Tokens{}, commands.ErrBadRefreshToken
	}
	if err != nil {
		return commands.Tokens{}, authError("refresh", err)
	}
	return tokens(out)
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
