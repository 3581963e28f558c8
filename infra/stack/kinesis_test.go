package stack_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/events/kinesis"
	"github.com/tenantstream/tenantstream/infra/stack"
)

var (
	kinesisOnce sync.Once
	kinesisRes  *synthesized
	kinesisErr  error
)

// kinesisVariant is the stack with context feed=kinesis, from the same
// registry as the shared stack.
func kinesisVariant(t *testing.T) *synthesized {
	t.Helper()
	kinesisOnce.Do(func() {
		kinesisRes, kinesisErr = synth(map[string]any{"feed": "kinesis", "kinesisShards": "3"}, stack.Props{Projections: registered})
	})
	require.NoError(t, kinesisErr)
	return kinesisRes
}

// TestKinesisFeed: the change stream, the table's streaming destination, and
// per projection an enhanced fan-out consumer, the mapping with its settings
// and its dead-letter queue (docs/aws.md, "The Kinesis feed").
func TestKinesisFeed(t *testing.T) {
	s := kinesisVariant(t)
	streams := s.ofType("AWS::Kinesis::Stream")
	require.Len(t, streams, 1)
	streamID := s.logicalID(t, "AWS::Kinesis::Stream", "ChangeStream")
	st := streams[streamID].Properties
	assert.Equal(t, "tenantstream-events", st["Name"])
	assert.Equal(t, map[string]any{"StreamMode": "PROVISIONED"}, st["StreamModeDetails"])
	assert.Equal(t, float64(3), st["ShardCount"], "kinesisShards")
	assert.Equal(t, float64(stack.KinesisRetentionHours), st["RetentionPeriodHours"])
	assert.GreaterOrEqual(t, st["RetentionPeriodHours"], float64(72), "long enough to recover from a multi-day projector outage")
	assert.Equal(t, map[string]any{"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}, st["StreamEncryption"])

	table := s.resources[s.logicalID(t, "AWS::DynamoDB::Table", "EventsTable")].Properties
	assert.Equal(t, map[string]any{"StreamArn": getAtt(streamID, "Arn")}, table["KinesisStreamSpecification"], "the table's Kinesis streaming destination")

	assert.Empty(t, s.ofType("AWS::Pipes::Pipe"), "no pipe")
	assert.Empty(t, s.ofType("AWS::Events::Rule"), "no rules")
	assert.Empty(t, s.ofType("AWS::Events::EventBus"), "no bus")

	consumers := s.ofType("AWS::Kinesis::StreamConsumer")
	require.Len(t, consumers, len(registered), "one enhanced fan-out consumer per projection")
	mappings := map[string]resource{} // by projection
	for id, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
		src := refID(m.Properties["EventSourceArn"])
		if s.resources[src].Type != "AWS::Kinesis::StreamConsumer" {
			continue
		}
		assert.Equal(t, map[string]any{"Fn::GetAtt": []any{streamID, "Arn"}}, consumers[src].Properties["StreamARN"], id)
		fn := s.resources[refID(m.Properties["FunctionName"])].Properties
		env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		assert.Equal(t, "kinesis", env[stack.EnvFeed], "%s: the projector decodes Kinesis batches", id)
		name := env[stack.EnvProjection].(string)
		_, dup := mappings[name]
		assert.False(t, dup, "one mapping per projection")
		mappings[name] = m
		assert.Equal(t, float64(3*stack.KinesisParallelization), fn["ReservedConcurrentExecutions"], "%s reserves what its mapping can run", name)
	}
	require.Len(t, mappings, len(registered))
	dlqs := map[string]bool{}
	for _, p := range registered {
		t.Run(p.Name(), func(t *testing.T) {
			m := mappings[p.Name()].Properties
			assert.Equal(t, "TRIM_HORIZON", m["StartingPosition"])
			assert.Equal(t, float64(stack.KinesisBatchSize), m["BatchSize"])
			assert.Equal(t, []any{"ReportBatchItemFailures"}, m["FunctionResponseTypes"])
			assert.Equal(t, true, m["BisectBatchOnFunctionError"])
			assert.Equal(t, float64(stack.KinesisParallelization), m["ParallelizationFactor"])
			retries := m["MaximumRetryAttempts"].(float64)
			assert.True(t, retries >= 1 && retries <= 100, "bounded retries, got %v", retries)
			age := m["MaximumRecordAgeInSeconds"].(float64)
			assert.True(t, age >= 60 && age <= float64(stack.KinesisRetentionHours*3600-3*24*3600),
				"records are discarded at least 3 days before the stream drops them, so a redrive can read them back; got %v", age)

			// The filter: only stored events of the projection's types.
			filters := m["FilterCriteria"].(map[string]any)["Filters"].([]any)
			require.Len(t, filters, 1)
			var got, want any
			require.NoError(t, json.Unmarshal([]byte(filters[0].(map[string]any)["Pattern"].(string)), &got))
			raw, err := json.Marshal(kinesis.FilterPattern(p.Handles()))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &want))
			assert.Equal(t, want, got)

			// The on-failure destination: the projection's dead-letter queue, named
			// as `projections redrive` finds it, kept 14 days, alarmed.
			dest := refID(m["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"])
			require.Equal(t, "AWS::SQS::Queue", s.resources[dest].Type)
			q := s.resources[dest].Properties
			assert.Equal(t, eventbridge.ProjectionDLQName("tenantstream", p.Name()), q["QueueName"])
			assert.Equal(t, float64(14*24*60*60), q["MessageRetentionPeriod"])
			assert.False(t, dlqs[dest], "each projection has its own dead-letter queue")
			dlqs[dest] = true
			assert.Len(t, alarmsOn(s, "ApproximateNumberOfMessagesVisible", "QueueName", dest), 1, "DLQ depth alarm")
			fn := refID(mappings[p.Name()].Properties["FunctionName"])
			ages := alarmsOn(s, "IteratorAge", "FunctionName", fn)
			require.Len(t, ages, 1, "iterator age alarm")
			for _, a := range ages {
				assert.Equal(t, "Maximum", a.Properties["Statistic"])
				assert.Equal(t, float64(stack.KinesisIteratorAgeAlarmMs), a.Properties["Threshold"])
			}
			assert.Len(t, alarmsOn(s, "Errors", "FunctionName", fn), 1, "error rate alarm")
		})
	}
	// No projection queue: nothing in this feed has a redrive policy.
	for id, q := range s.ofType("AWS::SQS::Queue") {
		if _, ok := q.Properties["RedrivePolicy"]; ok {
			name, _ := q.Properties["QueueName"].(string)
			assert.NotContains(t, name, "-projection-", "%s is a projection queue", id)
		}
	}
}

// TestKinesisFeedAlarms: the table's replication to the stream and the
// stream's write throttling alarm; the pipe's alarms are gone with the pipe.
func TestKinesisFeedAlarms(t *testing.T) {
	s := kinesisVariant(t)
	events := s.logicalID(t, "AWS::DynamoDB::Table", "EventsTable")
	for _, metric := range []string{"AgeOfOldestUnreplicatedRecord", "FailedToReplicateRecordCount"} {
		found := alarmsOn(s, metric, "TableName", events)
		require.Len(t, found, 1, metric)
		for _, a := range found {
			assert.Equal(t, "AWS/DynamoDB", a.Properties["Namespace"])
			assert.Equal(t, "PutRecords", dimsOf(a.Properties["Dimensions"])["DelegatedOperation"])
		}
	}
	assert.Len(t, alarmsOn(s, "WriteProvisionedThroughputExceeded", "StreamName", s.logicalID(t, "AWS::Kinesis::Stream", "ChangeStream")), 1)
	for id, a := range s.ofType("AWS::CloudWatch::Alarm") {
		ms, _ := watchedBy(a)
		for _, m := range ms {
			assert.NotEqual(t, "AWS/EventBridge/Pipes", m.namespace, "%s alarms on a pipe that does not exist", id)
		}
	}
	for _, p := range registered {
		found := false
		for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
			if a.Properties["MetricName"] == stack.MetricProjectionLag && dimsOf(a.Properties["Dimensions"])[stack.DimProjection] == p.Name() {
				found = true
			}
		}
		assert.True(t, found, "lag alarm for %s", p.Name())
	}
}
