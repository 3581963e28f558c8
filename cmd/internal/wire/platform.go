package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/cursorseal"
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

// Store kinds for Options.Store and TENANTSTREAM_STORE.
const (
	StoreMemory   = "memory"
	StoreDynamoDB = "dynamodb"
)

// Options say what Open builds. Every choice is made here, before anything is
// built: nothing patches the platform afterwards.
type Options struct {
	// Store is where the events and the read models live: StoreMemory, or
	// StoreDynamoDB (the tables Env names). Empty when Events is set.
	Store string
	// Events and ReadModels are a store the caller opened and closes (the local
	// server and CLI on SQLite, whose driver needs cgo, which the Lambda
	// binaries are built without); they take the place of Store.
	Events     evs.Store
	ReadModels projections.Backend
	// Env supplies the DynamoDB settings: EventsTable, ReadModelsTable, Region,
	// EndpointURL, SettleWindow and TenantRoleARN. Its Store is not read.
	Env Env
	// AWS is the SDK configuration (memory and dynamodb); nil loads it from
	// Env.Region and Env.EndpointURL over the SDK's own sources.
	AWS *aws.Config
	// TenantScoped (the api function): with Env.TenantRoleARN set, requests
	// scoped to a tenant (events.WithTenantScope, set by the HTTP layer) reach
	// DynamoDB only with that tenant's vended credentials (docs/ARCHITECTURE.md, decision 9d).
	TenantScoped bool
	// DynamoOptions (tests) adds options to the DynamoDB client acting for
	// tenant, "" being the platform's own.
	DynamoOptions func(tenant string) []func(*ddb.Options)
	// CognitoOptions (tests) adds options to the api function's Cognito client.
	CognitoOptions []func(*cip.Options)

	// Projections the engine runs; nil: every registered one.
	Projections []projections.Projection
	// Registerer receives the engine's metrics; nil: none.
	Registerer prometheus.Registerer

	Clock   clock.Clock      // nil: clock.System
	Catalog *billing.Catalog // nil: the embedded catalogue
	Log     *slog.Logger     // nil: discarded
	// Passwords hashes passwords (onboarding, users); nil: commands that hash fail.
	Passwords commands.PasswordHasher
	// Users holds credentials instead of the event store (Cognito); nil: the store.
	Users commands.UserDirectory
	// Cursors seals event-log cursors (docs/ARCHITECTURE.md, "API cursors"); nil: a key of this process.
	Cursors *cursorseal.Sealer
	// UsageWindow is how far back usage may be dated; 0: commands.UsageMaxAge.
	UsageWindow time.Duration
	// Grace is how long after its end a period may be closed; 0: commands.DefaultGrace.
	Grace time.Duration
	// AuditReadModel makes audits also compare the ledgers read model (the CLI).
	AuditReadModel bool
	// MeterWrites gives the platform a Meter counting item writes (the local server).
	MeterWrites bool
	// PublishCatalog publishes Catalog into the store's price book at start if
	// it differs from the latest published one (serve --catalog FILE, the api
	// function's shipped file). Without it the book keeps what was published,
	// and an empty book gets Catalog on first use; operator tools never publish.
	PublishCatalog bool
	// Metrics, when set, receives the EventsAppended and InvoicesIssued EMF lines.
	Metrics *emf.Writer
	// OnIssued, when set, is told about each newly issued invoice.
	OnIssued func(billing.Invoice)
}

// Platform is the one composition root (docs/ARCHITECTURE.md, "Packages and the
// direction of dependencies"): the store, the projection engine and the
// commands, built once from Options. The local server, the CLI and the Lambda
// functions are views over it that add their own pieces.
type Platform struct {
	Clock   clock.Clock
	AWS     aws.Config // memory and dynamodb only
	Store   evs.Store
	Engine  *projections.Engine
	Reader  projections.Reader
	Service *commands.Service
	Billing *commands.Billing
	Meter   *commands.Meter // nil unless Options.MeterWrites
	// Meters are the meters clients may report: the latest published catalogue's.
	Meters commands.MeterCatalog
	Log    *slog.Logger

	metrics *emf.Writer
}

// Open builds the platform o describes.
func Open(ctx context.Context, o Options) (*Platform, error) {
	p := &Platform{Clock: o.Clock, Log: o.Log, metrics: o.Metrics}
	if p.Clock == nil {
		p.Clock = clock.System{}
	}
	if p.Log == nil {
		p.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	cat := o.Catalog
	if cat == nil {
		cat = catalog.Default()
	}
	var backend projections.Backend
	var err error
	switch {
	case o.Events != nil:
		if o.ReadModels == nil {
			return nil, errors.New("wire: Options.Events without ReadModels")
		}
		p.Store, backend = o.Events, o.ReadModels
	case o.Store == StoreMemory || o.Store == StoreDynamoDB:
		if o.AWS != nil {
			p.AWS = *o.AWS
		} else if p.AWS, err = LoadAWS(ctx, o.Env); err != nil {
			return nil, err
		}
		if o.Store == StoreMemory {
			p.Store, backend = memstore.New(memstore.WithClock(p.Clock)), projections.NewMemoryBackend()
		} else if backend, err = p.openDynamoDB(o); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("store %q: want %q or %q", o.Store, StoreDynamoDB, StoreMemory)
	}
	if p.metrics != nil {
		p.Store = meter(p.Store, p.metrics, p.Log)
	}
	if p.Engine, err = projections.NewEngine(projections.EngineOptions{Store: p.Store, Backend: backend, Projections: o.Projections,
		Registerer: o.Registerer, Clock: p.Clock, Logger: p.Log}); err != nil {
		return nil, fmt.Errorf("new engine: %w", err)
	}
	p.Reader = p.Engine.Reader()
	p.Service = &commands.Service{Store: p.Store, Reader: p.Reader, Clock: p.Clock, Plans: commands.Catalog{Catalog: cat},
		Passwords: o.Passwords, Users: o.Users, Cursors: o.Cursors, UsageWindow: o.UsageWindow, Log: p.Log}
	if o.MeterWrites {
		p.Meter = &commands.Meter{Service: p.Service}
		p.Service.Meter = p.Meter
	}
	onIssued := o.OnIssued
	if p.metrics != nil {
		onIssued = func(inv billing.Invoice) {
			p.emit(emf.Line{TenantID: inv.TenantID, Properties: map[string]any{"invoice_id": inv.InvoiceID},
				Metrics: []emf.Metric{{Name: "InvoicesIssued", Unit: emf.Count, Value: 1}}})
			if o.OnIssued != nil {
				o.OnIssued(inv)
			}
		}
	}
	p.Billing = &commands.Billing{Service: p.Service, Catalog: cat, Grace: o.Grace, Log: p.Log, AuditReadModel: o.AuditReadModel, OnIssued: onIssued}
	// The entitlement checks read the same period folds the summary and the close do.
	p.Service.Billing = p.Billing
	// Clients may report the meters of the latest published catalogue.
	p.Meters = commands.PublishedMeters{Service: p.Service, Fallback: commands.Catalog{Catalog: cat}}
	if o.PublishCatalog {
		res, err := p.Service.PublishCatalog(ctx, cat)
		if err != nil {
			return nil, fmt.Errorf("publish the plan catalogue: %w", err)
		}
		if res.Changed {
			p.Log.Info("plan catalogue published", "version", res.Version, "plan_versions", res.Created)
		}
	}
	return p, nil
}

func (p *Platform) openDynamoDB(o Options) (projections.Backend, error) {
	env := o.Env
	if env.EventsTable == "" || env.ReadModelsTable == "" {
		return nil, errors.New("TENANTSTREAM_STORE=dynamodb needs TENANTSTREAM_EVENTS_TABLE and TENANTSTREAM_READMODELS_TABLE")
	}
	dynamo := func(tenant string, cfg aws.Config) *ddb.Client {
		var opts []func(*ddb.Options)
		if o.DynamoOptions != nil {
			opts = o.DynamoOptions(tenant)
		}
		return ddb.NewFromConfig(cfg, opts...)
	}
	client := dynamo("", p.AWS)
	evOpts := []evddb.Option{evddb.WithClock(p.Clock)}
	if env.SettleWindow > 0 {
		evOpts = append(evOpts, evddb.WithSettleWindow(env.SettleWindow))
	}
	pjOpts := pjddb.Options{Table: env.ReadModelsTable}
	if o.TenantScoped && env.TenantRoleARN != "" {
		// Built at cold start; the vendor assumes the role for a tenant on
		// its first request and caches the session, the clients per tenant.
		vendor, err := tenantcreds.New(sts.NewFromConfig(p.AWS), tenantcreds.Options{RoleARN: env.TenantRoleARN})
		if err != nil {
			return nil, fmt.Errorf("tenant credentials: %w", err)
		}
		clients := tenantcreds.NewClients(vendor, p.AWS, dynamo)
		evOpts = append(evOpts, evddb.WithTenantClients(func(_ context.Context, t evs.TenantID) (evddb.Client, error) {
			return clients.For(string(t))
		}))
		pjOpts.TenantClients = func(_ context.Context, t evs.TenantID) (pjddb.Client, error) { return clients.For(string(t)) }
	}
	p.Store = evddb.New(client, env.EventsTable, evOpts...)
	backend, err := pjddb.New(client, pjOpts)
	if err != nil {
		return nil, fmt.Errorf("open read models %s: %w", env.ReadModelsTable, err)
	}
	return backend, nil
}

// LoadAWS loads the SDK configuration. The SDK reads AWS_ENDPOINT_URL too,
// which points everything at moto in tests; explicit values (the CLI's flags)
// win over the environment.
func LoadAWS(ctx context.Context, env Env) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if env.Region != "" {
		opts = append(opts, awsconfig.WithRegion(env.Region))
	}
	if env.EndpointURL != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(env.EndpointURL))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return cfg, nil
}

// emit writes a metric line; metrics never fail a request.
func (p *Platform) emit(l emf.Line) {
	if p.metrics == nil {
		return
	}
	if err := p.metrics.Emit(l); err != nil {
		p.Log.Warn("emf metric not written", "err", err)
	}
}
