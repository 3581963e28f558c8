package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awspipes"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// Key layout shared with events/dynamodb and projections/dynamodb (docs/aws.md).
const (
	attrPK      = "PK"
	attrSK      = "SK"
	attrGSI1PK  = "GSI1PK"
	attrGSI1SK  = "GSI1SK"
	tenantIndex = "tenant-history"
	// attrExpires is the events table's time-to-live attribute: idempotency
	// records carry it (forgotten after a day, docs/api.md) and so do usage-id
	// claims (kept as long as a usage record can be dated back, plus a day).
	attrExpires = "expires_at"
)

// resources are the constructs one part of the stack hands to another.
type resources struct {
	// events is the stack's table, or a restored one it adopted (eventsTableName).
	events            awsdynamodb.ITable
	readModels        awsdynamodb.Table
	key               awskms.Key
	invoices, onboard awssns.Topic
	// members carries invitations and password resets with their one-time
	// tokens: subscribe the mailer that sends them, never a person's inbox.
	members awssns.Topic
	ops     awssns.Topic
	bus     awsevents.EventBus
	pipe    awspipes.CfnPipe
	// stream is the events table's Kinesis data stream (feed kinesis only).
	stream awskinesis.Stream

	fns map[string]awslambda.Function // api, billing-close, billing-close-worker
	// asyncFns are the functions invoked asynchronously (each with an
	// on-failure destination), alarmed on AsyncEventsDropped.
	asyncFns   []namedFunction
	projectors map[string]awslambda.Function // by projection name
	dlqs       []namedQueue

	userPool   awscognito.UserPool
	client     awscognito.UserPoolClient
	tenantRole awsiam.Role
	httpAPI    awsapigatewayv2.HttpApi
	closeQueue awssqs.Queue
	// projectionQueues are the queues the rules deliver to, by projection.
	projectionQueues map[string]awssqs.Queue
}

type namedQueue struct {
	name  string
	queue awssqs.Queue
}

// data creates the events table (the store) and the read-model table.
func (b *builder) data() {
	if b.cfg.EventsTableName != "" {
		// A table restored from PITR or a backup under a new name (docs/aws.md,
		// "Restoring a table"): used as it is; its stream, TTL, PITR and deletion
		// protection are set by the runbook, since a restore copies none of them.
		b.res.events = awsdynamodb.Table_FromTableAttributes(b.stack, jsii.String("EventsTable"), &awsdynamodb.TableAttributes{
			TableName:      jsii.String(b.cfg.EventsTableName),
			TableStreamArn: jsii.String(b.cfg.EventsStreamARN),
		})
	} else {
		// With feed kinesis every change also goes to the change stream (the
		// table's Kinesis streaming destination); the DynamoDB stream stays,
		// unread and so unbilled, so switching feeds never replaces the table's stream.
		var kinesisStream awskinesis.IStream
		if b.cfg.Feed == FeedKinesis {
			kinesisStream = b.changeStream()
		}
		events := awsdynamodb.NewTable(b.stack, jsii.String("EventsTable"), &awsdynamodb.TableProps{
			KinesisStream: kinesisStream,
			PartitionKey:  &awsdynamodb.Attribute{Name: jsii.String(attrPK), Type: awsdynamodb.AttributeType_STRING},
			SortKey:       &awsdynamodb.Attribute{Name: jsii.String(attrSK), Type: awsdynamodb.AttributeType_NUMBER},
			BillingMode:   awsdynamodb.BillingMode_PAY_PER_REQUEST,
			// NEW_IMAGE: events are immutable, so the new image is the whole event (the feed).
			Stream:              awsdynamodb.StreamViewType_NEW_IMAGE,
			TimeToLiveAttribute: jsii.String(attrExpires),
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			DeletionProtection: jsii.Bool(b.cfg.DeletionProtection),
			RemovalPolicy:      b.removalPolicy(),
		})
		events.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:    jsii.String(tenantIndex),
			PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(attrGSI1PK), Type: awsdynamodb.AttributeType_STRING},
			SortKey:      &awsdynamodb.Attribute{Name: jsii.String(attrGSI1SK), Type: awsdynamodb.AttributeType_STRING},
			// ALL: a history read needs whole events (events/dynamodb/table.go).
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
		b.res.events = events
	}
	b.res.readModels = awsdynamodb.NewTable(b.stack, jsii.String("ReadModelsTable"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(attrPK), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(attrSK), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(b.cfg.DeletionProtection),
		RemovalPolicy:      b.removalPolicy(),
	})
	out(b.stack, "EventsTableName", b.res.events.TableName())
	out(b.stack, "ReadModelsTableName", b.res.readModels.TableName())
}

// queue creates an encrypted, TLS-only queue. Dead-letter queues keep messages 14
// days (the SQS maximum) so there is time to inspect and redrive them.
func (b *builder) queue(id string, visibility awscdk.Duration, dlq awssqs.Queue) awssqs.Queue {
	props := &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: visibility,
	}
	if dlq != nil {
		props.DeadLetterQueue = &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(5)}
	} else {
		props.RetentionPeriod = awscdk.Duration_Days(jsii.Number(14))
	}
	return awssqs.NewQueue(b.stack, jsii.String(id), props)
}

// deadLetterQueue creates a DLQ that operations alarm on as soon as it holds a message.
func (b *builder) deadLetterQueue(id, name string) awssqs.Queue {
	q := b.queue(id, nil, nil)
	suppress(q, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue (of a pipe, a schedule target or a function's asynchronous invocations), which cdk-nag cannot see.")
	b.res.dlqs = append(b.res.dlqs, namedQueue{name: name, queue: q})
	return q
}

// notifications creates the invoices, onboarding and ops topics, encrypted with
// one customer-managed key: CloudWatch alarms cannot publish to a topic encrypted
// with the AWS-managed SNS key, and one key keeps the key policy in one place.
func (b *builder) notifications() {
	b.res.key = awskms.NewKey(b.stack, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts tenantstream's SNS topics"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     b.removalPolicy(),
	})
	b.res.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarmsToPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"), // in a key policy "*" means this key
	}), nil)
	topic := func(id, name string) awssns.Topic {
		return awssns.NewTopic(b.stack, jsii.String(id), &awssns.TopicProps{
			DisplayName: jsii.String(b.cfg.Prefix + " " + name),
			MasterKey:   b.res.key,
			EnforceSSL:  jsii.Bool(true),
		})
	}
	b.res.invoices = topic("InvoicesTopic", "invoices")
	b.res.onboard = topic("OnboardingTopic", "onboarding")
	b.res.members = topic("MembersTopic", "members")
	b.res.ops = topic("OpsTopic", "operations")
	if b.cfg.NotificationEmail != "" {
		for _, t := range []awssns.Topic{b.res.invoices, b.res.onboard} {
			awssns.NewSubscription(b.stack, jsii.String(*t.Node().Id()+"Email"), &awssns.SubscriptionProps{
				Topic: t, Protocol: awssns.SubscriptionProtocol_EMAIL, Endpoint: jsii.String(b.cfg.NotificationEmail),
			})
		}
	}
	if b.cfg.OpsEmail != "" {
		awssns.NewSubscription(b.stack, jsii.String("OpsTopicEmail"), &awssns.SubscriptionProps{
			Topic: b.res.ops, Protocol: awssns.SubscriptionProtocol_EMAIL, Endpoint: jsii.String(b.cfg.OpsEmail),
		})
	}
	out(b.stack, "InvoicesTopicArn", b.res.invoices.TopicArn())
	out(b.stack, "OnboardingTopicArn", b.res.onboard.TopicArn())
	out(b.stack, "MembersTopicArn", b.res.members.TopicArn())
	out(b.stack, "OpsTopicArn", b.res.ops.TopicArn())
}

func out(stack awscdk.Stack, id string, value *string) {
	awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value})
}
