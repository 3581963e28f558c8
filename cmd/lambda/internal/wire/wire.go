package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/cognito"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/lambdaapi"
	"github.com/tenantstream/tenantstream/projections"
)

// Env is the functions' configuration, read from environment variables (see docs/aws.md).
type Env struct {
	Store         string // TENANTSTREAM_STORE: "memory" (tests; the DynamoDB store is not wired yet)
	Region        string // AWS_REGION
	UserPoolID    string // COGNITO_USER_POOL_ID: empty keeps passwords in the store
	ClientID      string // COGNITO_CLIENT_ID
	JWKSURL       string // COGNITO_JWKS_URL: empty means the issuer's
	CloseQueueURL string // BILLING_CLOSE_QUEUE_URL
}

// FromEnv reads Env.
func FromEnv() Env {
	store := os.Getenv("TENANTSTREAM_STORE")
	if store == "" {
		store = "memory"
	}
	return Env{Store: store, Region: os.Getenv("AWS_REGION"), UserPoolID: os.Getenv("COGNITO_USER_POOL_ID"),
		ClientID: os.Getenv("COGNITO_CLIENT_ID"), JWKSURL: os.Getenv("COGNITO_JWKS_URL"), CloseQueueURL: os.Getenv("BILLING_CLOSE_QUEUE_URL")}
}

// platform is what every function shares: the store, the engine and the commands.
type platform struct {
	env     Env
	aws     aws.Config
	store   evs.Store
	engine  *projections.Engine
	service *commands.Service
	billing *commands.Billing
	log     *slog.Logger
}

func open(ctx context.Context, env Env) (*platform, error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// The SDK reads AWS_ENDPOINT_URL too, which points everything at moto in tests.
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	if env.Store != "memory" {
		return nil, fmt.Errorf("TENANTSTREAM_STORE=%q: only \"memory\" is wired so far", env.Store)
	}
	store := memstore.New()
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("new engine: %w", err)
	}
	cat := catalog.Default()
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clock.System{}, Plans: commands.Catalog{Catalog: cat}, Log: log}
	p := &platform{env: env, aws: cfg, store: store, engine: engine, service: svc, log: log,
		billing: &commands.Billing{Service: svc, Catalog: cat, Log: log}}
	return p, nil
}

// API returns the api function's handler: the httpapi routes behind API Gateway.
func API(ctx context.Context, env Env) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	p, err := open(ctx, env)
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
			return nil, err
		}
	} else {
		// Without Cognito the store keeps password hashes, as locally (tests only).
		if p.service.Passwords, err = identity.NewHasher(identity.HashParams{}); err != nil {
			return nil, fmt.Errorf("new hasher: %w", err)
		}
	}
	api.Authenticate = lambdaapi.Authenticate(ver)
	// With the in-memory store the API also runs the projections itself, so reads see writes.
	api.Advanced = func(ctx context.Context) error { return catchUp(ctx, p) }
	return lambdaapi.Adapter{Handler: api.Handler()}.Handle, nil
}

func catchUp(ctx context.Context, p *platform) error {
	page, err := p.store.ReadAll(ctx, "", evs.ReadOptions{Limit: 100000})
	if err != nil {
		return fmt.Errorf("read store: %w", err)
	}
	return p.engine.Handle(ctx, page.Events)
}

// Projector returns the projector function's handler: each EventBridge event
// carries one stored event (the envelope as JSON in detail) for the engine.
func Projector(ctx context.Context, env Env) (func(context.Context, events.EventBridgeEvent) error, error) {
	p, err := open(ctx, env)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, e events.EventBridgeEvent) error {
		var ev evs.Event
		if err := json.Unmarshal(e.Detail, &ev); err != nil {
			return fmt.Errorf("decode event %s: %w", e.ID, err)
		}
		if err := p.engine.Handle(ctx, []evs.Event{ev}); err != nil {
			return fmt.Errorf("project event %s: %w", ev.ID, err)
		}
		return nil
	}, nil
}

// CloseRequest is the message billing-close sends per tenant: close every due
// period of the tenant up to Through.
type CloseRequest struct {
	TenantID string         `json:"tenant_id"`
	Through  billing.Period `json:"through"`
}

// SQSSender is the SQS call billing-close makes; *sqs.Client is one.
type SQSSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// BillingClose returns the scheduled function's handler: one SQS message per
// tenant, so each tenant's close runs (and retries) on its own.
func BillingClose(ctx context.Context, env Env) (func(context.Context, events.EventBridgeEvent) error, error) {
	p, err := open(ctx, env)
	if err != nil {
		return nil, err
	}
	if env.CloseQueueURL == "" {
		return nil, errors.New("BILLING_CLOSE_QUEUE_URL is required")
	}
	q := sqs.NewFromConfig(p.aws)
	return func(ctx context.Context, e events.EventBridgeEvent) error {
		_, err := FanOut(ctx, p.service, q, env.CloseQueueURL, billing.PeriodOf(p.service.Clock.Now()).Prev())
		return err
	}, nil
}

// FanOut sends a CloseRequest for every tenant, ten per SendMessageBatch (SQS's limit).
func FanOut(ctx context.Context, svc *commands.Service, q SQSSender, queueURL string, through billing.Period) (int, error) {
	sent, after := 0, ""
	for {
		tenants, err := svc.ListTenants(ctx, after, 500)
		if err != nil {
			return sent, fmt.Errorf("list tenants: %w", err)
		}
		for i := 0; i < len(tenants); i += 10 {
			var entries []sqstypes.SendMessageBatchRequestEntry
			for j, t := range tenants[i:min(i+10, len(tenants))] {
				body, _ := json.Marshal(CloseRequest{TenantID: t.TenantID, Through: through})
				entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(string(body))})
			}
			out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
			if err != nil {
				return sent, fmt.Errorf("send close requests: %w", err)
			}
			if len(out.Failed) > 0 {
				return sent, fmt.Errorf("send close requests: %d of %d failed (%s)", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
			}
			sent += len(entries)
		}
		if len(tenants) < 500 {
			return sent, nil
		}
		after = tenants[len(tenants)-1].TenantID
	}
}

// BillingCloseWorker returns the SQS function's handler. Failed messages are
// reported one by one (ReportBatchItemFailures) so only they are retried.
func BillingCloseWorker(ctx context.Context, env Env) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	p, err := open(ctx, env)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return CloseBatch(ctx, p.billing, e), nil
	}, nil
}

// CloseBatch closes the periods each message asks for and lists the failures.
func CloseBatch(ctx context.Context, b *commands.Billing, e events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, m := range e.Records {
		if err := closeTenant(ctx, b, m.Body); err != nil {
			b.Log.WarnContext(ctx, "billing close failed; SQS will retry", "message_id", m.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp
}

// closeTenant closes the tenant's periods in order, from its first, so invoice
// numbers have no gaps; closing is idempotent, so redelivery is harmless.
func closeTenant(ctx context.Context, b *commands.Billing, body string) error {
	var req CloseRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil || strings.TrimSpace(req.TenantID) == "" || req.Through.IsZero() {
		return fmt.Errorf("decode close request %q: %v", body, err)
	}
	admin := commands.Meta{Principal: ident.Principal{UserID: "billing-close", Roles: []string{ident.RolePlatformAdmin}}}
	t, err := b.Service.GetTenant(ctx, admin, req.TenantID)
	if err != nil {
		return fmt.Errorf("load tenant %s: %w", req.TenantID, err)
	}
	for p := billing.PeriodOf(t.CreatedAt); !p.Start().After(req.Through.Start()); p = p.Next() {
		if _, err := b.Close(ctx, evs.TenantID(req.TenantID), p); err != nil {
			return fmt.Errorf("close %s %s: %w", req.TenantID, p, err)
		}
	}
	return nil
}
