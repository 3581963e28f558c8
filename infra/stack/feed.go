package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awspipes"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/projections"
)

// Pipe settings. The bus takes at most 10 entries per PutEvents, so batches are 10;
// records older than 6 hours go to the dead-letter queue, well before the stream's
// 24-hour retention drops them silently.
const (
	PipeBatchSize        = 10
	PipeBatchWindowSecs  = 1
	PipeMaxRetries       = 10
	PipeMaxRecordAgeSecs = 6 * 60 * 60
	// ProjectionRetries and ProjectionMaxEventAge bound how long EventBridge
	// retries putting an event on a projection's queue before it dead-letters
	// it (docs/aws.md, "Delivery that cannot drop an event").
	ProjectionRetries     = 8
	ProjectionMaxEventAge = 6 // hours
	// ProjectorTimeoutSecs is each projector function's timeout.
	ProjectorTimeoutSecs = 60
	// ProjectionVisibilitySecs is the projection queue's visibility timeout: AWS
	// advises six times the function's timeout, so a batch retried after a
	// throttle does not overlap a slow one (docs/aws.md).
	ProjectionVisibilitySecs = 6 * ProjectorTimeoutSecs
	// ProjectionMaxReceiveCount is how often a message is received (so
	// projected and failed) before SQS moves it to the dead-letter queue: five
	// tries over at least 30 minutes (five visibility timeouts).
	ProjectionMaxReceiveCount = 5
	// ProjectionRetentionDays is both projection queues' retention, the SQS
	// maximum. On a standard queue a message's expiry keeps its original
	// enqueue time in the dead-letter queue, so the dead-letter queue's
	// retention must not be shorter than the source's (docs/aws.md).
	ProjectionRetentionDays = 14
	// ProjectionBatchSize is the event source mapping's batch: the pipe's.
	ProjectionBatchSize = 10
)

// PipeFilter keeps only stored events: idempotency records, event-id claims and the
// tenant registry share the table (docs/aws.md).
const PipeFilter = `{"eventName":["INSERT"],"dynamodb":{"NewImage":{"kind":{"S":["event"]}}}}`

// feed creates the bus, the pipe from the events table's stream to it, and one rule
// per registered projection targeting that projection's projector.
func (b *builder) feed(pipeName string, registered []projections.Projection) {
	bus := awsevents.NewEventBus(b.stack, jsii.String("Bus"), &awsevents.EventBusProps{EventBusName: jsii.String(b.cfg.Prefix)})
	b.res.bus = bus
	dlq := b.deadLetterQueue("PipeDLQ", "pipe")

	// The table's own stream, or a restored table's (eventsStreamArn): a restore
	// makes a new stream, which CloudFormation does not see (docs/aws.md).
	source := b.res.events.TableStreamArn()
	if b.cfg.EventsStreamARN != "" {
		source = jsii.String(b.cfg.EventsStreamARN)
	}
	role := awsiam.NewRole(b.stack, jsii.String("PipeRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("pipes.amazonaws.com"), nil),
		Description: jsii.String("Reads the events table's stream and puts events on the bus"),
	})
	// Listed rather than GrantStreamRead, whose ListStreams on "*" is granted
	// here separately with the reason it needs "*".
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"),
		Resources: jsii.Strings(*source),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("dynamodb:ListStreams"), Resources: jsii.Strings("*"),
	}))
	suppressFinding(role, "AwsSolutions-IAM5", "dynamodb:ListStreams supports no resource-level permissions, so its resource must be \"*\"; it lists stream ARNs, not data.", "Resource::*")
	bus.GrantPutEventsTo(role, nil)
	dlq.GrantSendMessages(role)
	logs := awslogs.NewLogGroup(b.stack, jsii.String("PipeLogs"), &awslogs.LogGroupProps{
		Retention:     retentionDays(b.cfg.LogRetentionDays),
		RemovalPolicy: b.removalPolicy(),
	})
	logs.GrantWrite(role)

	b.res.pipe = awspipes.NewCfnPipe(b.stack, jsii.String("Pipe"), &awspipes.CfnPipeProps{
		Name:         jsii.String(pipeName),
		Description:  jsii.String("Stored events from the events table's stream to the bus"),
		RoleArn:      role.RoleArn(),
		Source:       source,
		DesiredState: jsii.String("RUNNING"),
		SourceParameters: &awspipes.CfnPipe_PipeSourceParametersProperty{
			FilterCriteria: &awspipes.CfnPipe_FilterCriteriaProperty{
				Filters: &[]interface{}{&awspipes.CfnPipe_FilterProperty{Pattern: jsii.String(PipeFilter)}},
			},
			DynamoDbStreamParameters: &awspipes.CfnPipe_PipeSourceDynamoDBStreamParametersProperty{
				StartingPosition:               jsii.String("TRIM_HORIZON"),
				BatchSize:                      jsii.Number(PipeBatchSize),
				MaximumBatchingWindowInSeconds: jsii.Number(PipeBatchWindowSecs),
				MaximumRetryAttempts:           jsii.Number(PipeMaxRetries),
				MaximumRecordAgeInSeconds:      jsii.Number(PipeMaxRecordAgeSecs),
				// A failing batch is split until the bad record is alone, then dead-lettered.
				OnPartialBatchItemFailure: jsii.String("AUTOMATIC_BISECT"),
				DeadLetterConfig:          &awspipes.CfnPipe_DeadLetterConfigProperty{Arn: dlq.QueueArn()},
			},
		},
		// No target parameters: the pipe puts source "Pipe <name>" and detail-type
		// "Event from aws:dynamodb", which events/eventbridge decodes.
		Target: bus.EventBusArn(),
		LogConfiguration: &awspipes.CfnPipe_PipeLogConfigurationProperty{
			Level:                        jsii.String("ERROR"),
			CloudwatchLogsLogDestination: &awspipes.CfnPipe_CloudwatchLogsLogDestinationProperty{LogGroupArn: logs.LogGroupArn()},
		},
	})
	// The role's policy must exist before the pipe starts reading.
	b.res.pipe.Node().AddDependency(role)

	for _, p := range registered {
		b.projectionRule(bus, pipeName, p)
	}
	out(b.stack, "EventBusName", bus.EventBusName())
	out(b.stack, "PipeName", jsii.String(pipeName))
}

// RulePattern is the event pattern of a projection's rule: stored events of the
// types the projection handles, as the pipe put them on the bus.
func RulePattern(pipeName string, p projections.Projection) *awsevents.EventPattern {
	types := make([]interface{}, 0, len(p.Handles()))
	for _, t := range p.Handles() {
		types = append(types, t)
	}
	return &awsevents.EventPattern{
		Source:     jsii.Strings(eventbridge.PipeSource(pipeName)),
		DetailType: jsii.Strings(eventbridge.DetailType),
		Detail: &map[string]interface{}{
			"eventName": []interface{}{eventbridge.InsertEvent},
			"dynamodb":  map[string]interface{}{"NewImage": map[string]interface{}{"type": map[string]interface{}{"S": types}}},
		},
	}
}

// projectionRule routes the projection's events to its queue, which its
// projector drains through an event source mapping with ReportBatchItemFailures
// (docs/aws.md, "Delivery that cannot drop an event"). Not the function itself:
// EventBridge invokes a Lambda target asynchronously, Lambda retries a function
// error twice and then discards the event, and the target's dead-letter queue
// only receives events EventBridge could not deliver, never function errors.
// From the queue a failed event is received again until maxReceiveCount, then
// kept 14 days in the dead-letter queue, from which `tenantstream projections
// redrive` moves it back. The dead-letter queue is also the rule target's, so
// an event EventBridge could not put on the queue lands in the same place, with
// the same body, and is redriven the same way.
func (b *builder) projectionRule(bus awsevents.EventBus, pipeName string, p projections.Projection) {
	name := p.Name()
	retention := awscdk.Duration_Days(jsii.Number(ProjectionRetentionDays))
	dlq := awssqs.NewQueue(b.stack, jsii.String("ProjectionDLQ-"+name), &awssqs.QueueProps{
		QueueName:       jsii.String(eventbridge.ProjectionDLQName(b.cfg.Prefix, name)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: retention,
	})
	suppress(dlq, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue (of the projection's queue and of its rule's target), which cdk-nag cannot see.")
	b.res.dlqs = append(b.res.dlqs, namedQueue{name: "projection-" + name, queue: dlq})
	queue := awssqs.NewQueue(b.stack, jsii.String("ProjectionQueue-"+name), &awssqs.QueueProps{
		QueueName:         jsii.String(eventbridge.ProjectionQueueName(b.cfg.Prefix, name)),
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(ProjectionVisibilitySecs)),
		RetentionPeriod:   retention,
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(ProjectionMaxReceiveCount)},
	})
	if b.res.projectionQueues == nil {
		b.res.projectionQueues = map[string]awssqs.Queue{}
	}
	b.res.projectionQueues[name] = queue
	rule := awsevents.NewRule(b.stack, jsii.String("ProjectionRule-"+name), &awsevents.RuleProps{
		EventBus:     bus,
		Description:  jsii.String("Events the " + name + " projection handles"),
		EventPattern: RulePattern(pipeName, p),
	})
	// The whole event is the message body (no input transformation), which
	// the projector decodes.
	rule.AddTarget(awseventstargets.NewSqsQueue(queue, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: dlq,
		RetryAttempts:   jsii.Number(ProjectionRetries),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(ProjectionMaxEventAge)),
	}))
	b.res.projectors[name].AddEventSource(awslambdaeventsources.NewSqsEventSource(queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(ProjectionBatchSize),
		// Only the failed records are received again (wire.ProjectBatch lists them).
		ReportBatchItemFailures: jsii.Bool(true),
		// The function's reserved concurrency: the poller then never invokes more
		// batches than the function may run, so batches are not throttled, which
		// would count as receives towards the dead-letter queue (docs/aws.md,
		// "Concurrency").
		MaxConcurrency: jsii.Number(b.cfg.ProjectorConcurrency),
	}))
}
