package stack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadLetterQueues are the queues that something dead-letters into.
func deadLetterQueues(s *synthesized) map[string]bool {
	dlqs := map[string]bool{}
	for _, r := range s.resources {
		walk(r.Properties, func(m map[string]any) {
			for _, k := range []string{"DeadLetterConfig", "RedrivePolicy"} {
				if c, ok := m[k].(map[string]any); ok {
					if id := refID(c["Arn"]); id != "" {
						dlqs[id] = true
					}
					if id := refID(c["deadLetterTargetArn"]); id != "" {
						dlqs[id] = true
					}
				}
			}
			// A function's on-failure destination (asynchronous invocations).
			if c, ok := m["OnFailure"].(map[string]any); ok {
				if id := refID(c["Destination"]); id != "" {
					dlqs[id] = true
				}
			}
		})
	}
	return dlqs
}

func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, e := range x {
			walk(e, f)
		}
	case []any:
		for _, e := range x {
			walk(e, f)
		}
	}
}

func TestEveryQueueIsOrHasADeadLetterQueue(t *testing.T) {
	dlqs := deadLetterQueues(shared)
	// pipe, schedule, billing close, billing close's on-failure destination,
	// and one per projection (its queue's and its rule target's)
	assert.Len(t, dlqs, 4+len(registered))
	for id, q := range shared.ofType("AWS::SQS::Queue") {
		assert.True(t, dlqs[id] || q.Properties["RedrivePolicy"] != nil, "%s is neither a dead-letter queue nor has one", id)
		assert.Equal(t, true, q.Properties["SqsManagedSseEnabled"], "%s is encrypted", id)
	}
}

func TestAlarms(t *testing.T) {
	ops := shared.logicalID(t, "AWS::SNS::Topic", "OpsTopic")
	type key struct{ metric, dimension string }
	alarms := map[key]bool{}
	for id, a := range shared.ofType("AWS::CloudWatch::Alarm") {
		assert.Equal(t, []any{map[string]any{"Ref": ops}}, a.Properties["AlarmActions"], "%s notifies the ops topic", id)
		var dim string
		if dims, ok := a.Properties["Dimensions"].([]any); ok && len(dims) > 0 {
			v := dims[0].(map[string]any)["Value"]
			if id := refID(v); id != "" {
				dim = id
			} else {
				dim, _ = v.(string)
			}
		}
		metric, ok := a.Properties["MetricName"].(string)
		require.True(t, ok, "%s watches one metric, not metric math", id)
		alarms[key{metric, dim}] = true
	}
	for id := range deadLetterQueues(shared) {
		// The queue dimension is the queue's name (Fn::GetAtt QueueName).
		var found bool
		for _, a := range shared.ofType("AWS::CloudWatch::Alarm") {
			if a.Properties["MetricName"] != "ApproximateNumberOfMessagesVisible" {
				continue
			}
			dims := a.Properties["Dimensions"].([]any)
			if refID(dims[0].(map[string]any)["Value"]) == id {
				found = true
				assert.Equal(t, float64(0), a.Properties["Threshold"], "alarms on the first message")
				assert.Equal(t, "GreaterThanThreshold", a.Properties["ComparisonOperator"])
			}
		}
		assert.True(t, found, "an alarm on dead-letter queue %s", id)
	}
	for id := range shared.ofType("AWS::Lambda::Function") {
		assert.True(t, alarms[key{"Errors", id}], "errors alarm for %s", id)
		assert.True(t, alarms[key{"Throttles", id}], "throttles alarm for %s", id)
	}
	assert.True(t, alarms[key{"ExecutionFailed", "tenantstream-events"}], "pipe failures")
	assert.True(t, alarms[key{"TargetStageFailed", "tenantstream-events"}], "pipe target failures")
	for _, p := range registered {
		assert.True(t, alarms[key{"ProjectionLagSeconds", p.Name()}], "lag alarm for %s", p.Name())
	}
}

func TestDashboard(t *testing.T) {
	dashboards := shared.ofType("AWS::CloudWatch::Dashboard")
	require.Len(t, dashboards, 1)
	for _, d := range dashboards {
		body := stringify(d.Properties["DashboardBody"])
		for _, want := range []string{
			`"AWS/ApiGateway","Latency"`, `"AWS/ApiGateway","5xx"`,
			`"TenantStream","EventsAppended"`, `"TenantStream","ProjectionLagSeconds"`, `"TenantStream","InvoicesIssued"`,
		} {
			assert.Contains(t, body, want)
		}
	}
}
