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
)

// Revoker revokes refresh tokens with Cognito's RevokeToken: the
// commands.TokenRevoker behind POST /auth/logout on AWS. RevokeToken ends
// the refresh token and the access tokens issued from it for Cognito's own
// APIs; those tokens still verify as JWTs until they expire (AWS developer
// guide, "Revoking tokens"). The app client must have token revocation
// enabled (EnableTokenRevocation, infra/). Cognito does not evaluate IAM for
// this call: the client id (and secret) authorize it.
type Revoker struct {
	Client   API
	ClientID string
	// ClientSecret is the app client's secret, if it has one (infra's has none).
	ClientSecret string
}

var _ commands.TokenRevoker = (*Revoker)(nil)

// Revoke implements commands.TokenRevoker. A token Cognito does not take as
// one of the client's refresh tokens is no error (RFC 7009: the answer tells
// nothing about the token); Cognito's rate limit is a 429 and anything else,
// a client with revocation disabled included, a 503.
func (r *Revoker) Revoke(ctx context.Context, refreshToken string) error {
	in := &cip.RevokeTokenInput{ClientId: aws.String(r.ClientID), Token: aws.String(refreshToken)}
	if r.ClientSecret != "" {
		in.ClientSecret = aws.String(r.ClientSecret)
	}
	_, err := r.Client.RevokeToken(ctx, in)
	if err == nil || invalidToken(err) {
		return nil
	}
	var many *types.TooManyRequestsException
	if errors.As(err, &many) {
		return &domain.Error{Code: domain.CodeRateLimited, Message: "too many attempts; retry later", Err: err}
	}
	return &domain.Error{Code: domain.CodeUnavailable, Message: "the identity provider is unavailable", Err: fmt.Errorf("revoke token: %w", err)}
}

// invalidToken reports the answers to a token that is not a valid refresh
// token of the client: an access or ID token (UnsupportedTokenType), one
// that does not match RevokeToken's pattern (InvalidParameter), and one
// Cognito does not accept (Unauthorized, "the request isn't authorized",
// or NotAuthorized). The API reference does not say which of the last two a
// wrong client secret gets; if it is one of them, a deployment with a wrong
// secret would revoke nothing without an error (infra's client has none).
func invalidToken(err error) bool {
	var (
		unsupported *types.UnsupportedTokenTypeException
		invalid     *types.InvalidParameterException
		unauth      *types.UnauthorizedException
		notAuth     *types.NotAuthorizedException
	)
	return errors.As(err, &unsupported) || errors.As(err, &invalid) || errors.As(err, &unauth) || errors.As(err, &notAuth)
}
