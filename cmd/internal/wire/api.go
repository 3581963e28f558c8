package wire

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/clock"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/cognito"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/lambdaapi"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
	rlddb "github.com/tenantstream/tenantstream/handlers/ratelimit/dynamodb"
)

// APIHandler is the api function's handler.
type APIHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// API returns the api function's handler: the httpapi routes behind API Gateway.
// With TENANTSTREAM_TENANT_ROLE_ARN set, a tenant principal's request reaches
// DynamoDB only with its tenant's credentials (docs/ARCHITECTURE.md, decision 9d): the HTTP layer scopes
// the request to the tenant and the stores use a client made from the tenant
// role's session for that tenant. Onboarding, login and platform admins use the
// function's own role.
func API(ctx context.Context, env Env) (APIHandler, error) {
	h, _, err := newAPI(ctx, env, func(o *Options) error { o.TenantScoped = true; return nil })
	return h, err
}

// newAPI builds the api function; adjust (API's tenant scoping, tests'
// substitutes) changes the options last, before the Cognito client and
// anything else is built.
func newAPI(ctx context.Context, env Env, adjust func(*Options) error) (APIHandler, *Platform, error) {
	var users *cip.Client
	p, err := openFunction(ctx, env, func(o *Options) error {
		var err error
		if o.Cursors, err = cursorSealer(ctx, env, *o.AWS); err != nil {
			return err
		}
		// Onboarding hashes the admin's password even with Cognito: the name
		// reservation keeps an argon2id verifier so that only the same request can
		// resume an interrupted onboarding. Without Cognito the store keeps the
		// users' password hashes too, as locally (tests only).
		if o.Passwords, err = identity.NewHasher(identity.HashParams{}); err != nil {
			return fmt.Errorf("new hasher: %w", err)
		}
		// The shipped catalogue file is how a deployment publishes prices: the
		// first cold start of a new file publishes it, the rest find it there.
		// Without a file, an empty book gets the embedded default on first use.
		o.PublishCatalog = env.CatalogFile != ""
		if adjust != nil {
			if err := adjust(o); err != nil {
				return err
			}
		}
		if env.UserPoolID != "" {
			// The directory follows the roster: groups, removals and passwords
			// (commands.DirectoryAdmin, DirectoryPasswords).
			users = cip.NewFromConfig(*o.AWS, o.CognitoOptions...)
			o.Users = &cognito.Directory{Client: users, UserPoolID: env.UserPoolID}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// The built-in meters count on each invocation's own Meter (docs/aws.md,
	// "Built-in meters"), as the local server counts on its one.
	api := &httpapi.API{Service: p.Service, Billing: p.Billing, Meters: p.Meters, Usage: commands.ContextMeter{},
		PasswordPolicy: identity.ValidatePassword, OpenAPI: httpapi.OpenAPI, Log: p.Log}
	var ver auth.TokenVerifier
	if env.UserPoolID != "" {
		signIn := &cognito.SignIn{Client: users, ClientID: env.ClientID}
		// Logout revokes the refresh token in Cognito (RevokeToken); the
		// client has token revocation enabled and no secret (infra/).
		revoker := &cognito.Revoker{Client: users, ClientID: env.ClientID}
		api.Logins = &commands.Auth{Service: p.Service, Throttle: identity.NewThrottle(clock.System{}), SignIn: signIn, Refresher: signIn, Revoker: revoker}
		if ver, err = cognito.NewVerifier(cognito.VerifierConfig{Region: p.AWS.Region, UserPoolID: env.UserPoolID, ClientIDs: []string{env.ClientID}, JWKSURL: env.JWKSURL}); err != nil {
			return nil, nil, fmt.Errorf("cognito verifier: %w", err)
		}
	}
	if env.OperatorPoolID != "" {
		// The operators' own pool (docs/aws.md, "Operators on AWS"): its
		// tokens go to a verifier that takes only platform_admin, the
		// tenants' pool's to one that refuses it.
		ops, err := cognito.NewVerifier(cognito.VerifierConfig{Region: p.AWS.Region, UserPoolID: env.OperatorPoolID,
			ClientIDs: []string{env.OperatorClientID}, JWKSURL: env.OperatorJWKSURL, PlatformAdmins: true})
		if err != nil {
			return nil, nil, fmt.Errorf("operator pool verifier: %w", err)
		}
		tenants := ver
		if tenants == nil {
			tenants = noUserPool{}
		}
		ver = auth.ByIssuer(map[string]auth.TokenVerifier{cognito.IssuerURL(p.AWS.Region, env.OperatorPoolID): ops}, tenants)
	}
	// No authorizer sits in front of the routes (docs/aws.md, "API keys on
	// AWS"): the function verifies every bearer itself, Cognito JWTs with the
	// pool's JWKS and API keys against the tables, on the same path as locally.
	api.Authenticate = lambdaapi.Authenticate(p.BearerVerifier(ver))
	// Each instance counts on its own: the stage throttle is the guard across
	// instances (AWS WAF cannot be attached to an HTTP API: docs/api.md).
	rate, err := onboardingRate(env)
	if err != nil {
		return nil, nil, err
	}
	api.OnboardingLimit = ratelimit.New(p.Clock, rate, 0)
	api.PasswordResetLimit = ratelimit.New(p.Clock, httpapi.DefaultPasswordResetRate, 0)
	// On DynamoDB every instance shares each tenant's buckets, leased a tenth
	// of a burst at a time (docs/aws.md, "Tenant rate limits"); the instance's
	// own table answers when DynamoDB does not, and in memory.
	local := ratelimit.NewKeyed(p.Clock, 0)
	api.TenantLimit = local
	if p.tenantDynamo != nil {
		api.TenantLimit = &rlddb.Shared{Table: p.readModelsTable, Clock: p.Clock, Local: local, Log: p.Log,
			Clients: func(ctx context.Context, tenant string) (rlddb.Client, error) { return p.tenantDynamo(ctx, tenant) }}
	}
	if env.Store == StoreMemory {
		// The in-memory store has no feed: the API runs the projections itself
		// so reads see writes. On DynamoDB the projector functions do.
		api.Advanced = func(ctx context.Context) error { return catchUp(ctx, p) }
	}
	meters := &invocationMeters{service: p.Service, log: p.Log, next: lambdaapi.Adapter{Handler: api.Handler()}.Handle}
	return meters.Handle, p, nil
}

func onboardingRate(env Env) (ratelimit.Rate, error) {
	burst := 0
	if env.OnboardingBurst != "" {
		n, err := strconv.Atoi(env.OnboardingBurst)
		if err != nil {
			return ratelimit.Rate{}, fmt.Errorf("TENANTSTREAM_ONBOARDING_BURST %q: want an integer", env.OnboardingBurst)
		}
		burst = n
	}
	r, err := httpapi.OnboardingRate(env.OnboardingRate, burst)
	if err != nil {
		return ratelimit.Rate{}, fmt.Errorf("TENANTSTREAM_ONBOARDING_RATE: %w", err)
	}
	return r, nil
}

func catchUp(ctx context.Context, p *Platform) error {
	page, err := p.Store.ReadAll(ctx, "", evs.ReadOptions{Limit: 100000})
	if err != nil {
		return fmt.Errorf("read store: %w", err)
	}
	return p.Engine.Handle(ctx, page.Events)
}
