package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	evs "github.com/tenantstream/tenantstream/events"
	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/emf"
	"github.com/tenantstream/tenantstream/handlers/tenantcreds"
	"github.com/tenantstream/tenantstream/projections"
	pjddb "github.com/tenantstream/tenantstream/projections/dynamodb"
)

// Store kinds for TENANTSTREAM_STORE.
const (
	StoreMemory   = "memory"
	StoreDynamoDB = "dynamodb"
)

// Env is the functions' configuration, read from environment variables (see docs/aws.md).
type Env struct {
	Store              string // TENANTSTREAM_STORE: "dynamodb" on AWS, "memory" (default) for tests
	EventsTable        string // TENANTSTREAM_EVENTS_TABLE
	ReadModelsTable    string // TENANTSTREAM_READMODELS_TABLE
	TenantRoleARN      string // TENANTSTREAM_TENANT_ROLE_ARN: the role tenant-scoped requests reach DynamoDB with (api)
	CursorKeySecretARN string // TENANTSTREAM_CURSOR_KEY_SECRET_ARN: the secret the api seals event-log cursors with
	Projection         string // TENANTSTREAM_PROJECTION: the one projection a projector function runs
	InvoicesTopicARN   string // TENANTSTREAM_INVOICES_TOPIC_ARN
	OnboardingTopicARN string // TENANTSTREAM_ONBOARDING_TOPIC_ARN
	MetricsNamespace   string // TENANTSTREAM_METRICS_NAMESPACE: empty writes no EMF metrics
	Region             string // AWS_REGION
	EndpointURL        string // optional endpoint for every SDK call (the CLI's --endpoint-url; the SDK reads AWS_ENDPOINT_URL itself)
	UserPoolID         string // COGNITO_USER_POOL_ID: empty keeps passwords in the store
	ClientID           string // COGNITO_CLIENT_ID
	JWKSURL            string // COGNITO_JWKS_URL: empty means the issuer's
	CloseQueueURL      string // BILLING_CLOSE_QUEUE_URL
	// CatalogFile (TENANTSTREAM_CATALOG_FILE) is the plan catalogue the platform
	// prices with, loaded by catalog.Load; empty means the embedded default.
	// FromEnv resolves a relative path against LAMBDA_TASK_ROOT when it is set.
	CatalogFile string
	// Now (TENANTSTREAM_NOW, RFC 3339) starts the business clock at that instant;
	// it is honoured only when TENANTSTREAM_TEST_HOOKS=1, so a deployed function
	// can never run on a simulated clock by accident.
	Now    time.Time
	nowErr error // a malformed TENANTSTREAM_NOW, reported by open
	// SettleWindow overrides the DynamoDB store's settle window (0: its 5 s
	// default): how long an event may take to appear in the tenant-history index.
	// The CLI's --settle-window; the functions keep the default.
	SettleWindow time.Duration
	// OnboardingRate (TENANTSTREAM_ONBOARDING_RATE, such as "5/1m", or "off") and
	// OnboardingBurst (TENANTSTREAM_ONBOARDING_BURST, an integer) limit POST
	// /onboarding per client address (API Gateway's sourceIp) in each api
	// function instance, as httpapi.OnboardingRate reads them; unset: 5 a minute
	// in bursts of 5. A malformed value fails the cold start.
	OnboardingRate, OnboardingBurst string
}

// FromEnv reads Env. A malformed TENANTSTREAM_NOW is reported by open.
func FromEnv() Env {
	store := os.Getenv("TENANTSTREAM_STORE")
	if store == "" {
		store = StoreMemory
	}
	e := Env{Store: store, Region: os.Getenv("AWS_REGION"), UserPoolID: os.Getenv("COGNITO_USER_POOL_ID"),
		ClientID: os.Getenv("COGNITO_CLIENT_ID"), JWKSURL: os.Getenv("COGNITO_JWKS_URL"), CloseQueueURL: os.Getenv("BILLING_CLOSE_QUEUE_URL"),
		EventsTable: os.Getenv("TENANTSTREAM_EVENTS_TABLE"), ReadModelsTable: os.Getenv("TENANTSTREAM_READMODELS_TABLE"),
		TenantRoleARN: os.Getenv("TENANTSTREAM_TENANT_ROLE_ARN"), Projection: os.Getenv("TENANTSTREAM_PROJECTION"),
		InvoicesTopicARN: os.Getenv("TENANTSTREAM_INVOICES_TOPIC_ARN"), OnboardingTopicARN: os.Getenv("TENANTSTREAM_ONBOARDING_TOPIC_ARN"),
		MetricsNamespace: os.Getenv("TENANTSTREAM_METRICS_NAMESPACE"), CatalogFile: os.Getenv("TENANTSTREAM_CATALOG_FILE")}
	e.OnboardingRate, e.OnboardingBurst = os.Getenv("TENANTSTREAM_ONBOARDING_RATE"), os.Getenv("TENANTSTREAM_ONBOARDING_BURST")
	e.CursorKeySecretARN = os.Getenv("TENANTSTREAM_CURSOR_KEY_SECRET_ARN")
	// make lambda ships the catalogue next to bootstrap, which Lambda unpacks in
	// the task root.
	if root := os.Getenv("LAMBDA_TASK_ROOT"); e.CatalogFile != "" && root != "" && !filepath.IsAbs(e.CatalogFile) {
		e.CatalogFile = filepath.Join(root, e.CatalogFile)
	}
	if os.Getenv("TENANTSTREAM_TEST_HOOKS") == "1" {
		if v := os.Getenv("TENANTSTREAM_NOW"); v != "" {
			if e.Now, e.nowErr = time.Parse(time.RFC3339, v); e.nowErr != nil {
				e.nowErr = fmt.Errorf("TENANTSTREAM_NOW: want an RFC 3339 time: %w", e.nowErr)
			}
		}
	}
	return e
}

// offsetClock runs at the real pace from a chosen start, so a test can put a
// function in another month while timeouts and ordering still see time pass.
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.d) }

// platform is what every function shares: the store, the engine and the commands.
type platform struct {
	env     Env
	aws     aws.Config
	clock   clock.Clock
	store   evs.Store
	reader  projections.Reader
	engine  *projections.Engine
	service *commands.Service
	billing *commands.Billing
	metrics *emf.Writer
	log     *slog.Logger
}

// open builds the platform; projs limits the engine to those projections
// (nil: all registered ones).
func open(ctx context.Context, env Env, projs []projections.Projection) (*platform, error) {
	return openWith(ctx, env, projs, os.Stdout)
}

func openWith(ctx context.Context, env Env, projs []projections.Projection, metricsOut io.Writer) (*platform, error) {
	return openPlatform(ctx, env, openOptions{projs: projs, metrics: metricsOut})
}

// openOptions is what one function adds to the platform every function shares.
type openOptions struct {
	projs   []projections.Projection // nil: all registered ones
	metrics io.Writer                // where EMF lines go
	// tenantScoped (the api function): with env.TenantRoleARN set, requests
	// scoped to a tenant (events.WithTenantScope, set by the HTTP layer) reach
	// DynamoDB only with that tenant's vended credentials (docs/ARCHITECTURE.md, decision 9d).
	tenantScoped bool
	// dynamoOptions (tests) adds options to the DynamoDB client acting for
	// tenant, "" being the function's own.
	dynamoOptions func(tenant string) []func(*ddb.Options)
}

func openPlatform(ctx context.Context, env Env, o openOptions) (*platform, error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// The SDK reads AWS_ENDPOINT_URL too, which points everything at moto in tests;
	// explicit values (the CLI's flags) win over the environment.
	var opts []func(*awsconfig.LoadOptions) error
	if env.Region != "" {
		opts = append(opts, awsconfig.WithRegion(env.Region))
	}
	if env.EndpointURL != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(env.EndpointURL))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	if env.nowErr != nil {
		return nil, env.nowErr
	}
	// A function must not start pricing with another catalogue than the one
	// it was deployed with: a missing or invalid file fails the cold start.
	cat := catalog.Default()
	if env.CatalogFile != "" {
		if cat, err = catalog.Load(env.CatalogFile); err != nil {
			return nil, fmt.Errorf("TENANTSTREAM_CATALOG_FILE: %w", err)
		}
		log.Info("plan catalogue loaded", "file", env.CatalogFile, "currency", cat.Currency, "plans", len(cat.Plans))
	}
	var clk clock.Clock = clock.System{}
	if !env.Now.IsZero() {
		clk = offsetClock{d: time.Until(env.Now)}
		log.Warn("test hooks on: the business clock is shifted", "now", env.Now)
	}
	// No function dimension: infra's alarms and dashboard read EventsAppended and
	// InvoicesIssued without dimensions and ProjectionLagSeconds by Projection
	// only, and CloudWatch matches a metric by its exact dimension set.
	p := &platform{env: env, aws: cfg, clock: clk, log: log,
		metrics: &emf.Writer{W: o.metrics, Namespace: env.MetricsNamespace}}
	var backend projections.Backend
	switch env.Store {
	case StoreMemory:
		p.store, backend = memstore.New(memstore.WithClock(clk)), projections.NewMemoryBackend()
	case StoreDynamoDB:
		if env.EventsTable == "" || env.ReadModelsTable == "" {
			return nil, errors.New("TENANTSTREAM_STORE=dynamodb needs TENANTSTREAM_EVENTS_TABLE and TENANTSTREAM_READMODELS_TABLE")
		}
		dynamo := func(tenant string, cfg aws.Config) *ddb.Client {
			var opts []func(*ddb.Options)
			if o.dynamoOptions != nil {
				opts = o.dynamoOptions(tenant)
			}
			return ddb.NewFromConfig(cfg, opts...)
		}
		client := dynamo("", cfg)
		evOpts := []evddb.Option{evddb.WithClock(clk)}
		if env.SettleWindow > 0 {
			evOpts = append(evOpts, evddb.WithSettleWindow(env.SettleWindow))
		}
		pjOpts := pjddb.Options{Table: env.ReadModelsTable}
		if o.tenantScoped && env.TenantRoleARN != "" {
			// Built at cold start; the vendor assumes the role for a tenant on
			// its first request and caches the session, the clients per tenant.
			vendor, err := tenantcreds.New(sts.NewFromConfig(cfg), tenantcreds.Options{RoleARN: env.TenantRoleARN})
			if err != nil {
				return nil, fmt.Errorf("tenant credentials: %w", err)
			}
			clients := tenantcreds.NewClients(vendor, cfg, dynamo)
			evOpts = append(evOpts, evddb.WithTenantClients(func(_ context.Context, t evs.TenantID) (evddb.Client, error) {
				return clients.For(string(t))
			}))
			pjOpts.TenantClients = func(_ context.Context, t evs.TenantID) (pjddb.Client, error) { return clients.For(string(t)) }
		}
		p.store = evddb.New(client, env.EventsTable, evOpts...)
		if backend, err = pjddb.New(client, pjOpts); err != nil {
			return nil, fmt.Errorf("open read models %s: %w", env.ReadModelsTable, err)
		}
	default:
		return nil, fmt.Errorf("TENANTSTREAM_STORE=%q: want %q or %q", env.Store, StoreDynamoDB, StoreMemory)
	}
	p.store = meter(p.store, p.metrics, log)
	if p.engine, err = projections.NewEngine(projections.EngineOptions{Store: p.store, Backend: backend, Projections: o.projs, Clock: clk, Logger: log}); err != nil {
		return nil, fmt.Errorf("new engine: %w", err)
	}
	p.reader = p.engine.Reader()
	p.service = &commands.Service{Store: p.store, Reader: p.reader, Clock: clk, Plans: commands.Catalog{Catalog: cat}, Log: log}
	p.billing = &commands.Billing{Service: p.service, Catalog: cat, Log: log,
		OnIssued: func(inv billing.Invoice) {
			p.emit(emf.Line{TenantID: inv.TenantID, Properties: map[string]any{"invoice_id": inv.InvoiceID},
				Metrics: []emf.Metric{{Name: "InvoicesIssued", Unit: emf.Count, Value: 1}}})
		}}
	return p, nil
}

// emit writes a metric line; metrics never fail a request.
func (p *platform) emit(l emf.Line) {
	if err := p.metrics.Emit(l); err != nil {
		p.log.Warn("emf metric not written", "err", err)
	}
}
