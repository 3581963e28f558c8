package stack_test

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// projectionRules maps a projection name to its rule, found by the rule's pattern.
func projectionRules(t *testing.T, s *synthesized) map[string]resource {
	t.Helper()
	out := map[string]resource{}
	for id, r := range s.ofType("AWS::Events::Rule") {
		fn := r.Properties["Targets"].([]any)[0].(map[string]any)["Arn"]
		fnRes, ok := s.resources[refID(fn)]
		require.True(t, ok, "rule %s targets a function of this stack", id)
		env := fnRes.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		name, _ := env[stack.EnvProjection].(string)
		require.NotEmpty(t, name, "rule %s targets a projector", id)
		out[name] = r
	}
	return out
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
	dlq := refID(target["DeadLetterConfig"].(map[string]any)["Arn"])
	require.NotEmpty(t, dlq, "%s: the target has a dead-letter queue", p.Name())
	assert.Equal(t, "AWS::SQS::Queue", s.resources[dlq].Type)
	retry := target["RetryPolicy"].(map[string]any)
	assert.Greater(t, retry["MaximumRetryAttempts"], float64(0))
	assert.Less(t, retry["MaximumEventAgeInSeconds"], float64(24*60*60))
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
