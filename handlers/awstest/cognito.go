package awstest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/smithy-go/middleware"
)

// TokenRevocation plays Cognito's RevokeToken, which moto does not implement
// (moto 5.2 answers "The revoke_token action has not been implemented"), on
// the Cognito clients built with its Middleware; every other call goes to moto.
// What it plays, from the AWS API reference (RevokeToken) and developer guide
// ("Revoking tokens"):
//
//   - a refresh token of an app client with token revocation enabled is
//     revoked: a refresh with it (InitiateAuth or AdminInitiateAuth,
//     REFRESH_TOKEN_AUTH or REFRESH_TOKEN) then fails with
//     NotAuthorizedException "Refresh Token has been revoked", the answer moto
//     gives for a refresh token AdminUserGlobalSignOut revoked. The user's
//     other refresh tokens are not affected. Revoking it again succeeds.
//   - a client without token revocation: UnsupportedOperationException.
//   - an access or ID token (a JWT): UnsupportedTokenTypeException.
//   - a token outside RevokeToken's pattern [A-Za-z0-9-_=.]+: InvalidParameterException.
//
// What AWS does not document, and is assumed here: a token this client was
// never issued (another client's, or none at all) and a missing or wrong
// client secret get UnauthorizedException ("the request isn't authorized").
//
// Access tokens are not touched: on AWS too a revoked access token still
// verifies as a JWT until it expires (the API's verifier checks signatures).
// Refresh tokens are learnt from the sign-ins that pass through the
// middleware. Every call is recorded by operation name (Calls), so a test can
// also check which calls a command made. It is safe for concurrent use.
type TokenRevocation struct {
	mu      sync.Mutex
	clients map[string]RevocationClient
	issued  map[string]string // refresh token -> client id
	revoked map[string]bool
	calls   []string
}

// RevocationClient is an app client as RevokeToken sees it.
type RevocationClient struct {
	Enabled bool
	Secret  string
}

// SetClient says how RevokeToken treats the app client id.
func (r *TokenRevocation) SetClient(id string, c RevocationClient) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients == nil {
		r.clients = map[string]RevocationClient{}
	}
	r.clients[id] = c
}

// LearnClient reads the app client's EnableTokenRevocation and secret from
// moto (DescribeUserPoolClient), which stores both without acting on them.
func (r *TokenRevocation) LearnClient(ctx context.Context, c *cip.Client, userPoolID, clientID string) error {
	out, err := c.DescribeUserPoolClient(ctx, &cip.DescribeUserPoolClientInput{UserPoolId: aws.String(userPoolID), ClientId: aws.String(clientID)})
	if err != nil {
		return fmt.Errorf("describe user pool client %s: %w", clientID, err)
	}
	r.SetClient(clientID, RevocationClient{Enabled: aws.ToBool(out.UserPoolClient.EnableTokenRevocation), Secret: aws.ToString(out.UserPoolClient.ClientSecret)})
	return nil
}

// Middleware returns an SDK option (for aws.Config.APIOptions or
// cognitoidentityprovider.Options.APIOptions) that sends the clients' calls
// through the fake.
func (r *TokenRevocation) Middleware() func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("awstest.TokenRevocation",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				r.record(in.Parameters)
				switch p := in.Parameters.(type) {
				case *cip.RevokeTokenInput:
					if err := r.revoke(p); err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
					return middleware.InitializeOutput{Result: &cip.RevokeTokenOutput{}}, middleware.Metadata{}, nil
				case *cip.InitiateAuthInput:
					if err := r.refreshable(p.AuthParameters); err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
					out, md, err := next.HandleInitialize(ctx, in)
					if o, ok := out.Result.(*cip.InitiateAuthOutput); ok && err == nil {
						r.learn(aws.ToString(p.ClientId), o.AuthenticationResult)
					}
					return out, md, err
				case *cip.AdminInitiateAuthInput:
					if err := r.refreshable(p.AuthParameters); err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
					out, md, err := next.HandleInitialize(ctx, in)
					if o, ok := out.Result.(*cip.AdminInitiateAuthOutput); ok && err == nil {
						r.learn(aws.ToString(p.ClientId), o.AuthenticationResult)
					}
					return out, md, err
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

var revokeTokenPattern = regexp.MustCompile(`^[A-Za-z0-9\-_=.]+$`)

func (r *TokenRevocation) revoke(in *cip.RevokeTokenInput) error {
	id, token := aws.ToString(in.ClientId), aws.ToString(in.Token)
	switch {
	case !revokeTokenPattern.MatchString(token):
		return &ciptypes.InvalidParameterException{Message: aws.String("1 validation error detected: Value at 'token' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9-_=.]+")}
	case strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ"):
		return &ciptypes.UnsupportedTokenTypeException{Message: aws.String("Unsupported token type")}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clients[id]
	if !ok || c.Secret != aws.ToString(in.ClientSecret) {
		return &ciptypes.UnauthorizedException{Message: aws.String("Invalid client")}
	}
	if !c.Enabled {
		return &ciptypes.UnsupportedOperationException{Message: aws.String("Token revocation is not enabled for this client")}
	}
	if r.issued[token] != id {
		return &ciptypes.UnauthorizedException{Message: aws.String("Invalid token")}
	}
	if r.revoked == nil {
		r.revoked = map[string]bool{}
	}
	r.revoked[token] = true
	return nil
}

// refreshable refuses a refresh with a revoked token before moto sees it.
func (r *TokenRevocation) refreshable(params map[string]string) error {
	token, ok := params["REFRESH_TOKEN"]
	if !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked[token] {
		return &ciptypes.NotAuthorizedException{Message: aws.String("Refresh Token has been revoked")}
	}
	return nil
}

func (r *TokenRevocation) learn(clientID string, res *ciptypes.AuthenticationResultType) {
	if res == nil || aws.ToString(res.RefreshToken) == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.issued == nil {
		r.issued = map[string]string{}
	}
	r.issued[aws.ToString(res.RefreshToken)] = clientID
}

func (r *TokenRevocation) record(params any) {
	op := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", params), "*cognitoidentityprovider."), "Input")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op)
}

// Calls returns the operations called so far, in order ("RevokeToken",
// "AdminUserGlobalSignOut", ...).
func (r *TokenRevocation) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Count returns how often op was called.
func (r *TokenRevocation) Count(op string) int {
	n := 0
	for _, c := range r.Calls() {
		if c == op {
			n++
		}
	}
	return n
}
