package stack

import (
	"archive/zip"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/projections"
)

// Environment variables the functions read (docs/deploy.md lists them for cmd/lambda).
const (
	EnvStore           = "TENANTSTREAM_STORE"
	EnvEventsTable     = "TENANTSTREAM_EVENTS_TABLE"
	EnvReadModelsTable = "TENANTSTREAM_READMODELS_TABLE"
	EnvTenantRoleARN   = "TENANTSTREAM_TENANT_ROLE_ARN"
	EnvInvoicesTopic   = "TENANTSTREAM_INVOICES_TOPIC_ARN"
	EnvOnboardingTopic = "TENANTSTREAM_ONBOARDING_TOPIC_ARN"
	// EnvMembersTopic names the topic of invitations and password resets
	// (the outbox projector publishes them with their derived tokens).
	EnvMembersTopic = "TENANTSTREAM_MEMBERS_TOPIC_ARN"
	EnvProjection   = "TENANTSTREAM_PROJECTION"
	// EnvFeed tells a projector which feed's batches it receives (FeedSQS, FeedKinesis).
	EnvFeed             = "TENANTSTREAM_FEED"
	EnvMetricsNamespace = "TENANTSTREAM_METRICS_NAMESPACE"
	EnvUserPoolID       = "COGNITO_USER_POOL_ID"
	EnvClientID         = "COGNITO_CLIENT_ID"
	EnvCloseQueueURL    = "BILLING_CLOSE_QUEUE_URL"
	EnvCatalogFile      = "TENANTSTREAM_CATALOG_FILE"
	// EnvCursorKeySecretARN names the secret the api seals event-log cursors with.
	EnvCursorKeySecretARN = "TENANTSTREAM_CURSOR_KEY_SECRET_ARN"
)

// pricingFunctions price with the plan catalogue (the api sells plans and
// quotes, the worker issues invoices), so they get EnvCatalogFile with
// catalogFile. billing-close only lists tenants and projectors never price:
// a catalogue they do not use must not be able to fail their cold start.
var pricingFunctions = []string{FnAPI, FnBillingCloseWorker}

// PreTokenTimeoutSecs is the trigger's timeout: Cognito gives a trigger 5 s.
const PreTokenTimeoutSecs = 5

// MetricsNamespace is the CloudWatch namespace of the functions' EMF metrics.
const MetricsNamespace = "TenantStream"

// DynamoDB actions, listed rather than wildcarded: no function gets dynamodb:*.
var (
	readActions  = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	writeActions = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
)

type fnSpec struct {
	id, code, description string
	memory                float64
	timeout               awscdk.Duration
	env                   map[string]*string
	// reserved is the function's reserved concurrency; 0 leaves it unreserved.
	reserved int
	// noData leaves out the store's environment: the function reads no table.
	noData bool
}

// function creates a Graviton provided.al2023 function with its own role and log
// group. The role gets no AWS-managed policy: it may write only its own log group.
func (b *builder) function(spec fnSpec) awslambda.Function {
	code, err := b.code(spec.code)
	if err != nil {
		b.fail(fmt.Errorf("function %s: %w", spec.id, err))
		return nil
	}
	logs := awslogs.NewLogGroup(b.stack, jsii.String(spec.id+"Logs"), &awslogs.LogGroupProps{
		Retention:     retentionDays(b.cfg.LogRetentionDays),
		RemovalPolicy: b.removalPolicy(),
	})
	role := awsiam.NewRole(b.stack, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Runs the " + spec.id + " function"),
	})
	logs.GrantWrite(role)
	env := map[string]*string{}
	if !spec.noData {
		env = map[string]*string{
			EnvStore:            jsii.String("dynamodb"),
			EnvEventsTable:      b.res.events.TableName(),
			EnvReadModelsTable:  b.res.readModels.TableName(),
			EnvMetricsNamespace: jsii.String(MetricsNamespace),
		}
	}
	for k, v := range spec.env {
		env[k] = v
	}
	var reserved *float64
	if spec.reserved > 0 {
		reserved = jsii.Number(spec.reserved)
	}
	return awslambda.NewFunction(b.stack, jsii.String(spec.id), &awslambda.FunctionProps{
		ReservedConcurrentExecutions: reserved,
		Description:                  jsii.String(spec.description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         code,
		MemorySize:                   jsii.Number(spec.memory),
		Timeout:                      spec.timeout,
		Role:                         role,
		LogGroup:                     logs,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		Environment:                  &env,
	})
}

// retentionDays maps a day count to the nearest CloudWatch retention at or above it.
func retentionDays(days int) awslogs.RetentionDays {
	for _, r := range []struct {
		days int
		v    awslogs.RetentionDays
	}{
		{1, awslogs.RetentionDays_ONE_DAY}, {3, awslogs.RetentionDays_THREE_DAYS}, {5, awslogs.RetentionDays_FIVE_DAYS},
		{7, awslogs.RetentionDays_ONE_WEEK}, {14, awslogs.RetentionDays_TWO_WEEKS}, {30, awslogs.RetentionDays_ONE_MONTH},
		{60, awslogs.RetentionDays_TWO_MONTHS}, {90, awslogs.RetentionDays_THREE_MONTHS}, {180, awslogs.RetentionDays_SIX_MONTHS},
		{365, awslogs.RetentionDays_ONE_YEAR}, {731, awslogs.RetentionDays_TWO_YEARS}, {1827, awslogs.RetentionDays_FIVE_YEARS},
	} {
		if days <= r.days {
			return r.v
		}
	}
	return awslogs.RetentionDays_TEN_YEARS
}

// functions creates the api, billing-close, worker and pre-token functions and one projector
// per registered projection: each projection scales, fails and is alarmed on its
// own, and a poison event parks only its projection.
func (b *builder) functions(registered []projections.Projection) error {
	b.res.fns = map[string]awslambda.Function{}
	b.res.projectors = map[string]awslambda.Function{}
	// Relative: the functions resolve it against their task root, where the zip is.
	var pricing map[string]*string
	if name := b.cfg.CatalogName(); name != "" {
		pricing = map[string]*string{EnvCatalogFile: jsii.String(name)}
	}
	b.res.fns[FnAPI] = b.function(fnSpec{id: "Api", code: FnAPI, memory: 512,
		// API Gateway gives up after 30 s.
		timeout:     awscdk.Duration_Seconds(jsii.Number(29)),
		description: "tenantstream HTTP API (handlers/httpapi behind API Gateway)",
		env:         pricing,
	})
	b.res.fns[FnBillingClose] = b.function(fnSpec{id: "BillingClose", code: FnBillingClose, memory: 256,
		timeout:     awscdk.Duration_Minutes(jsii.Number(5)),
		description: "Monthly billing close: one SQS message per tenant",
	})
	b.res.fns[FnBillingCloseWorker] = b.function(fnSpec{id: "BillingCloseWorker", code: FnBillingCloseWorker, memory: 512,
		timeout:     awscdk.Duration_Minutes(jsii.Number(2)),
		description: "Closes one tenant's due billing periods per message",
		env:         pricing,
	})
	// The user pool's trigger (identity): no table, no topic, only its logs.
	// Cognito waits 5 s for a trigger (and retries up to 3 times); the
	// function only reads the event, so it needs the least memory Lambda has.
	b.res.fns[FnPreToken] = b.function(fnSpec{id: "PreToken", code: FnPreToken, memory: 128,
		timeout:     awscdk.Duration_Seconds(jsii.Number(PreTokenTimeoutSecs)),
		description: "Cognito pre token generation (V2_0): the user's tenant into the access token",
		noData:      true,
	})
	for _, p := range registered {
		b.res.projectors[p.Name()] = b.function(fnSpec{id: "Projector-" + p.Name(), code: FnProjector, memory: 256,
			timeout:     awscdk.Duration_Seconds(jsii.Number(ProjectorTimeoutSecs)),
			description: "Applies events to the " + p.Name() + " projection",
			// Capped and reserved: a backlog in the projections cannot take the
			// concurrency the api needs (docs/aws.md, "Concurrency").
			reserved: b.projectorReserved(),
			env: map[string]*string{
				EnvFeed:            jsii.String(b.cfg.Feed),
				EnvProjection:      jsii.String(p.Name()),
				EnvInvoicesTopic:   b.res.invoices.TopicArn(),
				EnvOnboardingTopic: b.res.onboard.TopicArn(),
				EnvMembersTopic:    b.res.members.TopicArn(),
			},
		})
	}
	if b.err != nil {
		return b.err
	}

	b.grantData(b.res.fns[FnAPI], b.res.events, true, true)
	b.grantData(b.res.fns[FnAPI], b.res.readModels, false, false)
	b.grantData(b.res.fns[FnBillingClose], b.res.events, false, true)
	b.grantData(b.res.fns[FnBillingClose], b.res.readModels, false, false)
	b.grantData(b.res.fns[FnBillingCloseWorker], b.res.events, true, true)
	b.grantData(b.res.fns[FnBillingCloseWorker], b.res.readModels, false, false)
	for _, fn := range b.res.projectors {
		// Projectors read the store to fill version gaps and write their read models.
		b.grantData(fn, b.res.events, false, false)
		b.grantData(fn, b.res.readModels, true, false)
		b.grantPublish(fn, b.res.invoices, b.res.onboard, b.res.members)
	}
	return nil
}

// checkCatalogZips makes sure make lambda's zips agree with catalogFile, both
// ways: with it, the pricing functions' zips must hold catalog.<ext>, else they
// would fail every cold start; without it, no zip may hold a catalogue, else the
// functions would silently price with the embedded one instead.
func checkCatalogZips(cfg Config) error {
	want := cfg.CatalogName()
	for _, fn := range Functions {
		path := filepath.Join(cfg.LambdaDist, fn+".zip")
		r, err := zip.OpenReader(path)
		if err != nil {
			return fmt.Errorf("lambda code %s: %w", path, err)
		}
		var found []string
		for _, f := range r.File {
			if strings.HasPrefix(f.Name, "catalog.") {
				found = append(found, f.Name)
			}
		}
		if err := r.Close(); err != nil {
			return fmt.Errorf("lambda code %s: %w", path, err)
		}
		switch {
		case want == "" && len(found) > 0:
			return fmt.Errorf("lambda code %s holds %s, but context catalogFile is not set, so the functions would price with the embedded catalogue: "+
				"set catalogFile to the file given to make lambda CATALOG=, or run make lambda without CATALOG", path, strings.Join(found, ", "))
		case want != "" && slices.Contains(pricingFunctions, fn) && !slices.Contains(found, want):
			return fmt.Errorf("lambda code %s does not hold %s (context catalogFile %q): run make lambda CATALOG=<that file>", path, want, cfg.CatalogFile)
		}
	}
	return nil
}

// grantData lets fn read (and with write, change) table; withIndex adds queries
// on the tenant-history index.
func (b *builder) grantData(fn awslambda.Function, table awsdynamodb.ITable, write, withIndex bool) {
	actions := append([]string(nil), readActions...)
	if write {
		actions = append(actions, writeActions...)
	}
	resources := []string{*table.TableArn()}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
	}))
	if withIndex {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("dynamodb:Query"),
			Resources: jsii.Strings(*table.TableArn() + "/index/" + tenantIndex),
		}))
	}
}

// grantPublish lets fn publish to topics, which needs the topics' key.
func (b *builder) grantPublish(fn awslambda.Function, topics ...awssns.Topic) {
	arns := make([]string, len(topics))
	for i, t := range topics {
		arns[i] = *t.TopicArn()
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("sns:Publish"), Resources: jsii.Strings(arns...),
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"), Resources: jsii.Strings(*b.res.key.KeyArn()),
	}))
}
