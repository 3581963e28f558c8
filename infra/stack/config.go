package stack

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

// Config is what a deployment may change, read from CDK context (cdk.json, or
// CDK_CONTEXT_JSON as `make synth` passes it). Zero values are never used: start
// from DefaultConfig.
type Config struct {
	Prefix string // "prefix": names the bus and the pipe, so two stacks can share an account
	// "removalPolicy": "retain" (default) keeps tables, the user pool and logs when the
	// stack is deleted; "destroy" is for throw-away development stacks.
	Retain bool
	// "deletionProtection": DynamoDB and Cognito deletion protection (default true).
	DeletionProtection bool
	NotificationEmail  string // "notificationEmail": subscribed to the invoices and onboarding topics
	OpsEmail           string // "opsEmail": subscribed to the ops topic (alarms)
	// "billingCloseSchedule": an EventBridge Scheduler expression; the default runs at
	// 02:00 on the first of each month, in "billingCloseTimeZone" (default UTC).
	BillingCloseSchedule string
	BillingCloseTimeZone string
	LogRetentionDays     int     // "logRetentionDays" (default 30)
	APIRateLimit         float64 // "apiRateLimit": steady requests/s of the default stage (default 100)
	APIBurstLimit        float64 // "apiBurstLimit" (default 200)
	// "projectionLagAlarmSeconds": the projection lag (EMF) that raises an alarm (default 300).
	ProjectionLagAlarmSeconds float64
	// "projectorConcurrency": the reserved concurrency of each projector function, and
	// the maximum concurrency of its queue's event source mapping (default 5; 2 to
	// 1000). Reserved, so the projectors cannot take the api's concurrency; the
	// mapping's cap equals it, so the poller never invokes into a throttle (sizing in
	// docs/aws.md, "Concurrency").
	ProjectorConcurrency int
	// "feed": the change feed, FeedSQS (default: stream, pipe, bus, a queue per
	// projection) or FeedKinesis (the table's Kinesis streaming destination
	// and an event source mapping per projection; docs/aws.md, "The Kinesis feed").
	Feed string
	// "kinesisShards": the change stream's provisioned shards with feed
	// kinesis (default DefaultKinesisShards, 1 to 500). Each projector
	// reserves shards x KinesisParallelization concurrency.
	KinesisShards int
	// "eventsStreamArn": the stream of an events table restored outside the stack
	// (docs/aws.md, "Restoring a table"): the pipe reads it instead of the stream
	// CloudFormation recorded for the table. Empty: the table's own stream.
	EventsStreamARN string
	// "eventsTableName": an events table restored outside the stack under a new
	// name, which the stack then uses instead of creating its own (with
	// eventsStreamArn, its stream; docs/aws.md, "Restoring a table"). The table the
	// stack created is left in place (retained), no longer managed by the stack.
	EventsTableName string
	// "lambdaDist": the directory holding `make lambda`'s <fn>.zip files (default ../dist,
	// relative to infra/).
	LambdaDist string
	// "placeholderCode": synthesize with a placeholder bootstrap instead of the zips,
	// for tests and cfn-lint, which must not need a cross-compiled build.
	PlaceholderCode bool
	// "catalogFile": the plan catalogue given to `make lambda CATALOG=`, which ships
	// it in the zips as catalog.<ext>; the functions that price then load it. Only
	// its extension is used here. Empty: the embedded default catalogue.
	CatalogFile string
	// "corsOrigins": the browser origins allowed to call the API, a
	// comma-separated list of exact origins (https://app.example.com), read as
	// serve's --cors-origin reads them (httpapi.ParseCORSOrigins). API Gateway
	// then answers preflights and adds the CORS headers itself. Empty: no CORS.
	CORSOrigins []string
}

// CatalogName is the catalogue's name in the zips (catalog.<ext>, as make lambda
// names it), or "" without catalogFile.
func (c Config) CatalogName() string {
	if c.CatalogFile == "" {
		return ""
	}
	return "catalog" + strings.ToLower(filepath.Ext(c.CatalogFile))
}

// DefaultProjectorConcurrency is AWS's advised minimum reserved concurrency for a
// function behind an SQS event source (docs/aws.md, "Concurrency").
const DefaultProjectorConcurrency = 5

// DefaultConfig is the configuration without any context.
func DefaultConfig() Config {
	return Config{
		Prefix:                    "tenantstream",
		Retain:                    true,
		DeletionProtection:        true,
		BillingCloseSchedule:      "cron(0 2 1 * ? *)",
		BillingCloseTimeZone:      "UTC",
		LogRetentionDays:          30,
		APIRateLimit:              100,
		APIBurstLimit:             200,
		ProjectionLagAlarmSeconds: 300,
		ProjectorConcurrency:      DefaultProjectorConcurrency,
		Feed:                      FeedSQS,
		KinesisShards:             DefaultKinesisShards,
		LambdaDist:                "../dist",
	}
}

// ConfigFromContext reads Config from node's context over DefaultConfig.
// Context given on a command line arrives as strings, from cdk.json as JSON
// values, so both are accepted.
func ConfigFromContext(node constructs.Node) (Config, error) {
	c := DefaultConfig()
	get := func(key string) (string, bool) {
		v := node.TryGetContext(&key)
		if v == nil {
			return "", false
		}
		return strings.TrimSpace(fmt.Sprint(v)), true
	}
	var errs []string
	str := func(key string, dst *string) {
		if v, ok := get(key); ok {
			*dst = v
		}
	}
	boolean := func(key string, dst *bool) {
		if v, ok := get(key); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a boolean", key, v))
				return
			}
			*dst = b
		}
	}
	number := func(key string, dst *float64) {
		if v, ok := get(key); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				errs = append(errs, fmt.Sprintf("%s: %q is not a positive number", key, v))
				return
			}
			*dst = f
		}
	}
	str("prefix", &c.Prefix)
	if v, ok := get("removalPolicy"); ok {
		switch strings.ToLower(v) {
		case "retain":
			c.Retain = true
		case "destroy":
			c.Retain = false
		default:
			errs = append(errs, fmt.Sprintf("removalPolicy: %q is neither retain nor destroy", v))
		}
	}
	boolean("deletionProtection", &c.DeletionProtection)
	str("notificationEmail", &c.NotificationEmail)
	str("opsEmail", &c.OpsEmail)
	str("billingCloseSchedule", &c.BillingCloseSchedule)
	str("billingCloseTimeZone", &c.BillingCloseTimeZone)
	retention := float64(c.LogRetentionDays)
	number("logRetentionDays", &retention)
	c.LogRetentionDays = int(retention)
	number("apiRateLimit", &c.APIRateLimit)
	number("apiBurstLimit", &c.APIBurstLimit)
	number("projectionLagAlarmSeconds", &c.ProjectionLagAlarmSeconds)
	if v, ok := get("projectorConcurrency"); ok {
		// An SQS mapping's maximum concurrency is 2 to 1000 (Lambda API, ScalingConfig).
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > 1000 {
			errs = append(errs, fmt.Sprintf("projectorConcurrency: %q is not a whole number from 2 to 1000", v))
		} else {
			c.ProjectorConcurrency = n
		}
	}
	str("feed", &c.Feed)
	if c.Feed != FeedSQS && c.Feed != FeedKinesis {
		errs = append(errs, fmt.Sprintf("feed: %q is neither %s nor %s", c.Feed, FeedSQS, FeedKinesis))
	}
	if v, ok := get("kinesisShards"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			errs = append(errs, fmt.Sprintf("kinesisShards: %q is not a whole number from 1 to 500", v))
		} else {
			c.KinesisShards = n
		}
	}
	str("eventsStreamArn", &c.EventsStreamARN)
	if a := c.EventsStreamARN; a != "" && (!strings.HasPrefix(a, "arn:") || !strings.Contains(a, ":table/") || !strings.Contains(a, "/stream/")) {
		errs = append(errs, fmt.Sprintf("eventsStreamArn: %q is not a DynamoDB stream ARN (arn:...:table/<name>/stream/<label>)", a))
	}
	str("lambdaDist", &c.LambdaDist)
	boolean("placeholderCode", &c.PlaceholderCode)
	str("catalogFile", &c.CatalogFile)
	if n := c.CatalogName(); n != "" && n != "catalog.yaml" && n != "catalog.yml" && n != "catalog.json" {
		errs = append(errs, fmt.Sprintf("catalogFile: %q must be a .yaml, .yml or .json file", c.CatalogFile))
	}
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, " /#") {
		errs = append(errs, fmt.Sprintf("prefix: %q must be non-empty without spaces, '/' or '#'", c.Prefix))
	}
	if v, ok := get("corsOrigins"); ok && v != "" {
		origins, err := httpapi.ParseCORSOrigins(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("corsOrigins: %v", err))
		} else {
			c.CORSOrigins = origins
		}
	}
	str("eventsTableName", &c.EventsTableName)
	if c.EventsTableName != "" && c.EventsStreamARN == "" {
		errs = append(errs, "eventsTableName: a restored table needs eventsStreamArn too (enable its stream first: docs/aws.md, \"Restoring a table\")")
	}
	if c.Feed == FeedKinesis && c.EventsTableName != "" {
		errs = append(errs, "feed kinesis: a restored table (eventsTableName) is not managed by the stack, so it cannot get the Kinesis streaming destination; enable it with aws dynamodb enable-kinesis-streaming-destination, or keep feed sqs (docs/aws.md, \"Restoring a table\")")
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("read context: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
