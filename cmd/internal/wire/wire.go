package wire

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/emf"
)

// Env is the functions' configuration, read from environment variables (see docs/aws.md).
type Env struct {
	Store              string // TENANTSTREAM_STORE: "dynamodb" on AWS, "memory" (default) for tests
	EventsTable        string // TENANTSTREAM_EVENTS_TABLE
	ReadModelsTable    string // TENANTSTREAM_READMODELS_TABLE
	TenantRoleARN      string // TENANTSTREAM_TENANT_ROLE_ARN: the role tenant-scoped requests reach DynamoDB with (api)
	CursorKeySecretARN string // TENANTSTREAM_CURSOR_KEY_SECRET_ARN: the secret the api seals event-log cursors with
	Projection         string // TENANTSTREAM_PROJECTION: the one projection a projector function runs
	// Feed (TENANTSTREAM_FEED) is the change feed a projector reads: FeedSQS
	// (the default: a projection's SQS queue behind the bus) or FeedKinesis
	// (the events table's Kinesis data stream).
	Feed               string
	InvoicesTopicARN   string // TENANTSTREAM_INVOICES_TOPIC_ARN
	OnboardingTopicARN string // TENANTSTREAM_ONBOARDING_TOPIC_ARN
	MembersTopicARN    string // TENANTSTREAM_MEMBERS_TOPIC_ARN: invitations and password resets, with their tokens
	MetricsNamespace   string // TENANTSTREAM_METRICS_NAMESPACE: empty writes no EMF metrics
	Region             string // AWS_REGION
	EndpointURL        string // optional endpoint for every SDK call (the CLI's --endpoint-url; the SDK reads AWS_ENDPOINT_URL itself)
	UserPoolID         string // COGNITO_USER_POOL_ID: empty keeps passwords in the store
	ClientID           string // COGNITO_CLIENT_ID
	JWKSURL            string // COGNITO_JWKS_URL: empty means the issuer's
	CloseQueueURL      string // BILLING_CLOSE_QUEUE_URL
	// OperatorPoolID and OperatorClientID (TENANTSTREAM_OPERATOR_POOL_ID,
	// TENANTSTREAM_OPERATOR_CLIENT_ID) name the operators' user pool and app
	// client: its tokens, in the group platform_admin, are the operator
	// credential on AWS (docs/aws.md, "Operators on AWS"). Empty: no operator
	// tokens are accepted. OperatorJWKSURL (TENANTSTREAM_OPERATOR_JWKS_URL)
	// overrides where its keys are read, as JWKSURL does.
	OperatorPoolID, OperatorClientID, OperatorJWKSURL string
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
	// GenerationFence overrides the read-model backend's generation fence (0:
	// pjddb.DefaultGenerationFence): how long after a projector read a
	// projection's generation state it may reuse it, which a rebuild waits out
	// after its switch. The CLI's --generation-fence, for tests; the functions
	// keep the default, and a rebuild must not use less than they do.
	GenerationFence time.Duration
	// OnboardingRate (TENANTSTREAM_ONBOARDING_RATE, such as "5/1m", or "off") and
	// OnboardingBurst (TENANTSTREAM_ONBOARDING_BURST, an integer) limit POST
	// /onboarding per client address (API Gateway's sourceIp) in each api
	// function instance, as httpapi.OnboardingRate reads them; unset: 5 a minute
	// in bursts of 5. A malformed value fails the cold start.
	OnboardingRate, OnboardingBurst string
}

// The projector's feeds (Env.Feed; infra's context key feed).
const (
	FeedSQS     = "sqs"
	FeedKinesis = "kinesis"
)

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
	e.MembersTopicARN = os.Getenv("TENANTSTREAM_MEMBERS_TOPIC_ARN")
	e.Feed = os.Getenv("TENANTSTREAM_FEED")
	e.OperatorPoolID, e.OperatorClientID = os.Getenv("TENANTSTREAM_OPERATOR_POOL_ID"), os.Getenv("TENANTSTREAM_OPERATOR_CLIENT_ID")
	e.OperatorJWKSURL = os.Getenv("TENANTSTREAM_OPERATOR_JWKS_URL")
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

// functionOptions are the options every Lambda function starts from, read
// from env: the SDK configuration, the deployed catalogue, the business clock,
// a JSON log on stderr and EMF metrics on stdout.
func functionOptions(ctx context.Context, env Env) (Options, error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := LoadAWS(ctx, env)
	if err != nil {
		return Options{}, err
	}
	if env.nowErr != nil {
		return Options{}, env.nowErr
	}
	// A function must not start pricing with another catalogue than the one
	// it was deployed with: a missing or invalid file fails the cold start.
	cat := catalog.Default()
	if env.CatalogFile != "" {
		if cat, err = catalog.Load(env.CatalogFile); err != nil {
			return Options{}, fmt.Errorf("TENANTSTREAM_CATALOG_FILE: %w", err)
		}
		log.Info("plan catalogue loaded", "file", env.CatalogFile, "currency", cat.Currency, "plans", len(cat.Plans))
	}
	var clk clock.Clock = clock.System{}
	if !env.Now.IsZero() {
		clk = offsetClock{d: time.Until(env.Now)}
		log.Warn("test hooks on: the business clock is shifted", "now", env.Now)
	}
	if env.Store != StoreMemory && env.Store != StoreDynamoDB {
		return Options{}, fmt.Errorf("TENANTSTREAM_STORE=%q: want %q or %q", env.Store, StoreDynamoDB, StoreMemory)
	}
	// No function dimension: infra's alarms and dashboard read EventsAppended and
	// InvoicesIssued without dimensions and ProjectionLagSeconds by Projection
	// only, and CloudWatch matches a metric by its exact dimension set.
	return Options{Store: env.Store, Env: env, AWS: &cfg, Clock: clk, Catalog: cat, Log: log,
		Metrics: &emf.Writer{W: os.Stdout, Namespace: env.MetricsNamespace}}, nil
}

// openFunction builds the platform of a Lambda function. adjust, when set,
// adds the function's own options (and tests' substitutes) before anything is built.
func openFunction(ctx context.Context, env Env, adjust func(*Options) error) (*Platform, error) {
	o, err := functionOptions(ctx, env)
	if err != nil {
		return nil, err
	}
	if adjust != nil {
		if err := adjust(&o); err != nil {
			return nil, err
		}
	}
	return Open(ctx, o)
}
