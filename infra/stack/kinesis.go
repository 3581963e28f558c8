package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/events/kinesis"
	"github.com/tenantstream/tenantstream/projections"
)

// The change feeds (context key feed).
const (
	// FeedSQS is the default: the table's DynamoDB stream, a pipe, the bus,
	// and a rule and queue per projection (feed.go).
	FeedSQS = "sqs"
	// FeedKinesis streams the table into a Kinesis data stream that each
	// projector reads through its own event source mapping (this file;
	// docs/aws.md, "The Kinesis feed").
	FeedKinesis = "kinesis"
)

// Kinesis feed settings (docs/aws.md, "The Kinesis feed", gives the reasons).
const (
	// KinesisRetentionHours keeps records 7 days: a projector may be down for
	// days and a discarded batch (whose on-failure record holds only its
	// sequence range) can still be read back by `projections redrive` for 6
	// days after KinesisMaxRecordAgeSecs discards it. 7 days is the end of
	// extended retention; longer is billed per GB-month. Rebuilds read the
	// store, not the stream (decision 5 in docs/ARCHITECTURE.md).
	KinesisRetentionHours = 7 * 24
	// DefaultKinesisShards is the provisioned shard count (context key
	// kinesisShards): each shard takes 1 MB/s or 1,000 records/s of changes.
	DefaultKinesisShards = 2
	// KinesisParallelization is each mapping's ParallelizationFactor: two
	// batches per shard at once, in partition-key order, so a record that
	// keeps failing holds half a shard's keys, not all of them.
	KinesisParallelization = 2
	// KinesisBatchSize is the mapping's batch size; a redrive invokes with
	// batches of the same size.
	KinesisBatchSize = 100
	// KinesisMaxRetryAttempts bounds the retries of a failing batch, as the
	// pipe's are (bisecting uses none), before its metadata goes to the
	// on-failure destination.
	KinesisMaxRetryAttempts = PipeMaxRetries
	// KinesisMaxRecordAgeSecs discards records a day old: only a stalled
	// projector reaches it, and the stream keeps them 6 more days.
	KinesisMaxRecordAgeSecs = 24 * 60 * 60
	// KinesisIteratorAgeAlarmMs: a projector's mapping more than 5 minutes
	// behind the stream for 5 minutes in a row.
	KinesisIteratorAgeAlarmMs      = 5 * 60 * 1000
	KinesisIteratorAgeAlarmMinutes = 5
	// KinesisReplicationAgeAlarmMs: a change not yet in the stream after 5
	// minutes (DynamoDB retries throttled puts: the stream needs more shards).
	KinesisReplicationAgeAlarmMs = 5 * 60 * 1000
)

// KinesisStreamName is the change stream of the stack named prefix.
func KinesisStreamName(prefix string) string { return prefix + "-events" }

// changeStream creates the events table's Kinesis data stream: provisioned
// (the shard count bounds each mapping's concurrency, which the projectors
// reserve), AWS-managed encryption, 7 days' retention.
func (b *builder) changeStream() awskinesis.Stream {
	s := awskinesis.NewStream(b.stack, jsii.String("ChangeStream"), &awskinesis.StreamProps{
		StreamName:      jsii.String(KinesisStreamName(b.cfg.Prefix)),
		StreamMode:      awskinesis.StreamMode_PROVISIONED,
		ShardCount:      jsii.Number(b.cfg.KinesisShards),
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(KinesisRetentionHours)),
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RemovalPolicy:   b.removalPolicy(),
	})
	b.res.stream = s
	out(b.stack, "ChangeStreamName", s.StreamName())
	return s
}

// projectorReserved is a projector's reserved concurrency. On the Kinesis feed a
// mapping runs at most shards x parallelization batches at once, so that is
// reserved: the mapping never invokes into a throttle, and a throttle would
// only delay records towards KinesisMaxRecordAgeSecs.
func (b *builder) projectorReserved() int {
	if b.cfg.Feed == FeedKinesis {
		return b.cfg.KinesisShards * KinesisParallelization
	}
	return b.cfg.ProjectorConcurrency
}

// kinesisFeed gives each registered projection an enhanced fan-out consumer of
// the change stream, an event source mapping from it to the projection's
// function, and an SQS dead-letter queue as the mapping's on-failure
// destination. Enhanced fan-out because every projection reads the whole
// stream: seven shared-throughput readers would exceed a shard's 5 reads/s
// and 2 MB/s (docs/aws.md).
func (b *builder) kinesisFeed(registered []projections.Projection) {
	for _, p := range registered {
		name := p.Name()
		dlq := awssqs.NewQueue(b.stack, jsii.String("ProjectionDLQ-"+name), &awssqs.QueueProps{
			QueueName:       jsii.String(eventbridge.ProjectionDLQName(b.cfg.Prefix, name)),
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(ProjectionRetentionDays)),
		})
		suppress(dlq, "AwsSolutions-SQS3", "This queue is itself the on-failure destination of the projection's Kinesis event source mapping, which cdk-nag cannot see.")
		b.res.dlqs = append(b.res.dlqs, namedQueue{name: "projection-" + name, queue: dlq})
		consumer := awskinesis.NewStreamConsumer(b.stack, jsii.String("StreamConsumer-"+name), &awskinesis.StreamConsumerProps{
			Stream:             b.res.stream,
			StreamConsumerName: jsii.String(b.cfg.Prefix + "-projection-" + name),
		})
		pattern := kinesis.FilterPattern(p.Handles())
		b.res.projectors[name].AddEventSource(awslambdaeventsources.NewKinesisConsumerEventSource(consumer, &awslambdaeventsources.KinesisEventSourceProps{
			StartingPosition:      awslambda.StartingPosition_TRIM_HORIZON,
			BatchSize:             jsii.Number(KinesisBatchSize),
			ParallelizationFactor: jsii.Number(KinesisParallelization),
			// wire.ProjectKinesisBatch reports a failure after applied records
			// as a batch item failure and a failing first record as a function
			// error, which bisecting splits until the record is alone.
			ReportBatchItemFailures: jsii.Bool(true),
			BisectBatchOnError:      jsii.Bool(true),
			RetryAttempts:           jsii.Number(KinesisMaxRetryAttempts),
			MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(KinesisMaxRecordAgeSecs)),
			OnFailure:               awslambdaeventsources.NewSqsDlq(dlq),
			Filters:                 &[]*map[string]interface{}{awslambda.FilterCriteria_Filter(&pattern)},
		}))
	}
}

// kinesisAlarms alarms on the Kinesis feed: each projector's iterator age (the
// SQS feed's queue age), the table's replication to the stream, and writes
// the stream throttles.
func (b *builder) kinesisAlarms(alarm func(alarmSpec)) {
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	for _, name := range sortedKeys(b.res.projectors) {
		// Lambda IteratorAge, dimension FunctionName ("Types of metrics for
		// Lambda functions", event source mapping metrics): the age of the
		// last record of each batch the mapping invoked.
		alarm(alarmSpec{id: "IteratorAgeAlarm-projection-" + name,
			description: "The " + name + " projector's event source mapping lags behind the change stream: a failing record or a backlog (docs/aws.md, The Kinesis feed)",
			metric: b.res.projectors[name].Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
				Period: minute, Statistic: jsii.String("Maximum")}),
			threshold: KinesisIteratorAgeAlarmMs, periods: KinesisIteratorAgeAlarmMinutes})
	}
	ddb := func(metric, stat string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/DynamoDB"), MetricName: jsii.String(metric),
			DimensionsMap: &map[string]*string{"TableName": b.res.events.TableName(), "DelegatedOperation": jsii.String("PutRecords")},
			Period:        minute, Statistic: jsii.String(stat),
		})
	}
	// AWS/DynamoDB, dimensions TableName and DelegatedOperation ("Amazon
	// DynamoDB recommended alarms"): DynamoDB retries throttled puts, so a
	// rising age means too few shards; a failed record is skipped for good.
	alarm(alarmSpec{id: "ReplicationAgeAlarm-events", description: "Changes of the events table wait more than 5 minutes to reach the change stream: add shards (context kinesisShards)",
		metric: ddb("AgeOfOldestUnreplicatedRecord", "Maximum"), threshold: KinesisReplicationAgeAlarmMs, periods: 3})
	alarm(alarmSpec{id: "ReplicationFailedAlarm-events", description: "DynamoDB skipped a change it could not put on the change stream: rebuild the projections from the store (docs/aws.md, The Kinesis feed)",
		metric: ddb("FailedToReplicateRecordCount", "Sum"), threshold: 0, periods: 1})
	// AWS/Kinesis WriteProvisionedThroughputExceeded, dimension StreamName.
	alarm(alarmSpec{id: "StreamWriteThrottledAlarm", description: "The change stream throttles DynamoDB's puts 5 minutes in a row: add shards (context kinesisShards)",
		metric:    b.res.stream.MetricWriteProvisionedThroughputExceeded(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Sum")}),
		threshold: 0, periods: 5})
}

// feedMetrics are the change feed's dashboard graph.
func (b *builder) kinesisFeedMetrics() []awscloudwatch.IMetric {
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	return []awscloudwatch.IMetric{
		b.res.stream.MetricIncomingRecords(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Sum")}),
		b.res.stream.MetricWriteProvisionedThroughputExceeded(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Sum")}),
	}
}
