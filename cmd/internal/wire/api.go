package wire

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/clock"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/cognito"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/lambdaapi"
	"github.com/tenantstream/tenantstream/handlers/tenantcreds"
)

// API returns the api function's handler: the httpapi routes behind API Gateway.
func API(ctx context.Context, env Env) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	p, err := open(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	api := &httpapi.API{Service: p.service, Billing: p.billing, Meters: commands.Catalog{Catalog: p.billing.Catalog},
		PasswordPolicy: identity.ValidatePassword, OpenAPI: httpapi.OpenAPI, Log: p.log}
	var ver auth.TokenVerifier
	if env.UserPoolID != "" {
		client := cip.NewFromConfig(p.aws)
		p.service.Users = &cognito.Directory{Client: client, UserPoolID: env.UserPoolID}
		api.Logins = &cognito.Logins{Client: client, ClientID: env.ClientID, Tenants: p.service, Throttle: identity.NewThrottle(clock.System{})}
		if ver, err = cognito.NewVerifier(cognito.VerifierConfig{Region: p.aws.Region, UserPoolID: env.UserPoolID, ClientIDs: []string{env.ClientID}, JWKSURL: env.JWKSURL}); err != nil {
			return nil, fmt.Errorf("cognito verifier: %w", err)
		}
	} else {
		// Without Cognito the store keeps password hashes, as locally (tests only).
		if p.service.Passwords, err = identity.NewHasher(identity.HashParams{}); err != nil {
			return nil, fmt.Errorf("new hasher: %w", err)
		}
	}
	if env.TenantRoleARN != "" {
		// DESIGN 9d: the vendor is built (and its role checked) at cold start.
		// Requests do not reach DynamoDB through it yet; docs/aws.md says what remains.
		if _, err := tenantcreds.New(sts.NewFromConfig(p.aws), tenantcreds.Options{RoleARN: env.TenantRoleARN}); err != nil {
			return nil, fmt.Errorf("tenant credentials: %w", err)
		}
	}
	api.Authenticate = lambdaapi.Authenticate(ver)
	if env.Store == StoreMemory {
		// The in-memory store has no feed: the API runs the projections itself
		// so reads see writes. On DynamoDB the projector functions do.
		api.Advanced = func(ctx context.Context) error { return catchUp(ctx, p) }
	}
	return lambdaapi.Adapter{Handler: api.Handler()}.Handle, nil
}

func catchUp(ctx context.Context, p *platform) error {
	page, err := p.store.ReadAll(ctx, "", evs.ReadOptions{Limit: 100000})
	if err != nil {
		return fmt.Errorf("read store: %w", err)
	}
	return p.engine.Handle(ctx, page.Events)
}
