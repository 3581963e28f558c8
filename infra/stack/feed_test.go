package stack_test

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/infra/stack"
	"github.com/tenantstream/tenantstream/projections"
)

func TestPipe(t *testing.T) {
	pipes := shared.ofType("AWS::Pipes::Pipe")
	require.Len(t, pipes, 1)
	var p resource
	for _, p = range pipes {
	}
	events := shared.logicalID(t, "AWS::DynamoDB::Table", "EventsTable")
	bus := shared.logicalID(t, "AWS::Events::EventBus", "Bus")
	dlq := shared.logicalID(t, "AWS::SQS::Queue", "PipeDLQ")

	assert.Equal(t, "tenantstream-events", p.Properties["Name"])
	assert.Equal(t, getAtt(events, "StreamArn"), p.Properties["Source"], "reads the events table's stream")
	assert.Equal(t, getAtt(bus, "Arn"), p.Properties["Target"], "puts on the custom bus")
	_, hasTargetParams := p.Properties["TargetParameters"]
	assert.False(t, hasTargetParams, "no target parameters: events/eventbridge decodes the pipe's default event")

	src := p.Properties["SourceParameters"].(map[string]any)
	ddb := src["DynamoDBStreamParameters"].(map[string]any)
	assert.Equal(t, map[string]any{"Arn": getAtt(dlq, "Arn")}, ddb["DeadLetterConfig"], "dead-letter queue")
	assert.Equal(t, "AUTOMATIC_BISECT", ddb["OnPartialBatchItemFailure"])
	assert.Equal(t, "TRIM_HORIZON", ddb["StartingPosition"])
	assert.LessOrEqual(t, ddb["BatchSize"], float64(10), "the bus takes at most 10 entries per put")
	retries := ddb["MaximumRetryAttempts"].(float64)
	assert.True(t, retries >= 0 && retries <= 10, "bounded retries, got %v", retries)
	age := ddb["MaximumRecordAgeInSeconds"].(float64)
	assert.True(t, age > 0 && age < 24*60*60, "records dead-lettered before the stream's 24 h retention, got %v", age)

	filters := src["FilterCriteria"].(map[string]any)["Filters"].([]any)
	require.Len(t, filters, 1)
	var pattern any
	require.NoError(t, json.Unmarshal([]byte(filters[0].(map[string]any)["Pattern"].(string)), &pattern))
	assert.Equal(t, map[string]any{
		"eventName": []any{"INSERT"},
		"dynamodb":  map[string]any{"NewImage": map[string]any{"kind": map[string]any{"S": []any{"event"}}}},
	}, pattern, "only stored events, as docs/aws.md documents")
}

// projectionRules maps a projection name to its rule, found by the rule's
// target: a queue that an event source mapping drains into a projector.
func projectionRules(t *testing.T, s *synthesized) map[string]resource {
	t.Helper()
	out := map[string]resource{}
	for id, r := range s.ofType("AWS::Events::Rule") {
		queue := refID(r.Properties["Targets"].([]any)[0].(map[string]any)["Arn"])
		require.Equal(t, "AWS::SQS::Queue", s.resources[queue].Type, "rule %s targets a queue", id)
		fn := projectorOf(t, s, queue)
		env := s.resources[fn].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		name, _ := env[stack.EnvProjection].(string)
		require.NotEmpty(t, name, "rule %s's queue feeds a projector", id)
		out[name] = r
	}
	return out
}

// projectorOf is the function the one event source mapping of queue invokes.
func projectorOf(t *testing.T, s *synthesized, queue string) string {
	t.Helper()
	var fns []string
	for _, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
		if m.Properties["EventSourceArn"].(map[string]any)["Fn::GetAtt"].([]any)[0] == queue {
			fns = append(fns, refID(m.Properties["FunctionName"]))
		}
	}
	require.Len(t, fns, 1, "one event source mapping reads %s", queue)
	return fns[0]
}

func checkProjectionRule(t *testing.T, s *synthesized, p projections.Projection, rule resource) {
	t.Helper()
	pattern := rule.Properties["EventPattern"].(map[string]any)
	types := pattern["detail"].(map[string]any)["dynamodb"].(map[string]any)["NewImage"].(map[string]any)["type"].(map[string]any)["S"].([]any)
	var got []string
	for _, ty := range types {
		got = append(got, ty.(string))
	}
	want := append([]string(nil), p.Handles()...)
	sort.Strings(got)
	sort.Strings(want)
	assert.Equal(t, want, got, "%s: the rule matches exactly the types it handles", p.Name())
	assert.Equal(t, []any{"Pipe tenantstream-events"}, pattern["source"])
	assert.Equal(t, []any{"Event from aws:dynamodb"}, pattern["detail-type"])
	assert.Equal(t, refID(rule.Properties["EventBusName"]), s.logicalID(t, "AWS::Events::EventBus", "Bus"), "on the custom bus")

	targets := rule.Properties["Targets"].([]any)
	require.Len(t, targets, 1)
	target := targets[0].(map[string]any)
	_, transformed := target["InputTransformer"]
	assert.False(t, transformed, "%s: the whole event is the message body", p.Name())
	retry := target["RetryPolicy"].(map[string]any)
	assert.Greater(t, retry["MaximumRetryAttempts"], float64(0))
	assert.Less(t, retry["MaximumEventAgeInSeconds"], float64(24*60*60))

	// The queue: a dead-letter queue after maxReceiveCount receives, both kept
	// 14 days, visibility six times the projector's timeout.
	queueID := refID(target["Arn"])
	queue := s.resources[queueID].Properties
	assert.Equal(t, eventbridge.ProjectionQueueName("tenantstream", p.Name()), queue["QueueName"], "the name redrive looks up")
	redrive := queue["RedrivePolicy"].(map[string]any)
	dlqID := refID(redrive["deadLetterTargetArn"])
	require.NotEmpty(t, dlqID)
	dlq := s.resources[dlqID].Properties
	assert.Equal(t, eventbridge.ProjectionDLQName("tenantstream", p.Name()), dlq["QueueName"])
	assert.Equal(t, float64(stack.ProjectionMaxReceiveCount), redrive["maxReceiveCount"])
	assert.GreaterOrEqual(t, redrive["maxReceiveCount"], float64(3), "more than one retry before dead-lettering")
	assert.Equal(t, float64(14*24*60*60), queue["MessageRetentionPeriod"])
	assert.Equal(t, float64(14*24*60*60), dlq["MessageRetentionPeriod"], "the DLQ keeps a message's original enqueue time: no shorter than the source's")
	assert.Equal(t, map[string]any{"Arn": getAtt(dlqID, "Arn")}, target["DeadLetterConfig"], "%s: what EventBridge cannot deliver goes to the same DLQ", p.Name())
	fn := projectorOf(t, s, queueID)
	timeout := s.resources[fn].Properties["Timeout"].(float64)
	assert.GreaterOrEqual(t, queue["VisibilityTimeout"], 6*timeout, "visibility at least six times the function's timeout")

	// The event source mapping reports partial batch failures.
	for _, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
		if refID(m.Properties["EventSourceArn"]) == queueID {
			assert.Equal(t, []any{"ReportBatchItemFailures"}, m.Properties["FunctionResponseTypes"], "%s: partial batch responses", p.Name())
			assert.LessOrEqual(t, m.Properties["BatchSize"], float64(10))
		}
	}
}

func TestOneRulePerRegisteredProjection(t *testing.T) {
	rules := projectionRules(t, shared)
	require.Len(t, rules, len(registered))
	dlqs := map[string]bool{}
	for _, p := range registered {
		t.Run(p.Name(), func(t *testing.T) {
			rule, ok := rules[p.Name()]
			require.True(t, ok, "no rule for %s", p.Name())
			checkProjectionRule(t, shared, p, rule)
			dlq := refID(rule.Properties["Targets"].([]any)[0].(map[string]any)["DeadLetterConfig"].(map[string]any)["Arn"])
			assert.False(t, dlqs[dlq], "each projection has its own dead-letter queue")
			dlqs[dlq] = true
		})
	}
}

// No Lambda function is invoked asynchronously without an on-failure
// destination: asynchronous invocations (EventBridge rule and Scheduler
// targets) are retried twice and then discarded (docs/aws.md). Rules target
// queues; the scheduled billing-close has an on-failure queue.
func TestNoAsyncInvocationWithoutOnFailureDestination(t *testing.T) {
	for _, s := range []*synthesized{shared, variant(t), kinesisVariant(t)} {
		onFailure := map[string]string{}
		for _, c := range s.ofType("AWS::Lambda::EventInvokeConfig") {
			dest, _ := c.Properties["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]
			onFailure[refID(c.Properties["FunctionName"])] = refID(dest)
		}
		async := map[string]string{}
		for id, r := range s.ofType("AWS::Events::Rule") {
			for _, tg := range r.Properties["Targets"].([]any) {
				if fn := refID(tg.(map[string]any)["Arn"]); s.resources[fn].Type == "AWS::Lambda::Function" {
					async[fn] = "rule " + id
				}
			}
		}
		for id, r := range s.ofType("AWS::Scheduler::Schedule") {
			if fn := refID(r.Properties["Target"].(map[string]any)["Arn"]); s.resources[fn].Type == "AWS::Lambda::Function" {
				async[fn] = "schedule " + id
			}
		}
		for id, r := range s.ofType("AWS::Lambda::Permission") {
			principal := r.Properties["Principal"]
			if principal == "events.amazonaws.com" || principal == "sns.amazonaws.com" || principal == "s3.amazonaws.com" || principal == "scheduler.amazonaws.com" {
				async[refID(r.Properties["FunctionName"])] = "permission " + id
			}
		}
		require.NotEmpty(t, async, "billing-close is invoked by its schedule")
		for fn, by := range async {
			dest := onFailure[fn]
			require.NotEmpty(t, dest, "%s invokes %s asynchronously without an on-failure destination", by, fn)
			assert.Equal(t, "AWS::SQS::Queue", s.resources[dest].Type)
		}
		for _, r := range s.ofType("AWS::Events::Rule") {
			for _, tg := range r.Properties["Targets"].([]any) {
				assert.NotEqual(t, "AWS::Lambda::Function", s.resources[refID(tg.(map[string]any)["Arn"])].Type, "no rule invokes a function")
			}
		}
	}
}

// TestNewProjectionAddsItsRule: registering a projection is all it takes; the
// variant stack is built after a test-only projection joined the registry.
func TestNewProjectionAddsItsRule(t *testing.T) {
	v := variant(t)
	rules := projectionRules(t, v)
	extra := extraProjection{}
	rule, ok := rules[extra.Name()]
	require.True(t, ok, "the registered test projection has a rule: %v", rules)
	checkProjectionRule(t, v, extra, rule)
	assert.Len(t, rules, len(projections.Registered()))
	assert.Len(t, rules, len(registered)+1)
	_, inShared := projectionRules(t, shared)[extra.Name()]
	assert.False(t, inShared, "the default stack was built before the test projection existed")

	// Its projector is alarmed on like every other.
	var lagAlarm bool
	for _, a := range v.ofType("AWS::CloudWatch::Alarm") {
		if a.Properties["MetricName"] == stack.MetricProjectionLag {
			dims := a.Properties["Dimensions"].([]any)
			if dims[0].(map[string]any)["Value"] == extra.Name() {
				lagAlarm = true
			}
		}
	}
	assert.True(t, lagAlarm, "a lag alarm for the new projection")
}
