package stack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/infra/stack"
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

// watched is one metric an alarm reads: the alarm's own, or one of its metric
// math expression's.
type watched struct {
	namespace, metric string
	dims              map[string]any // dimension name -> value (a string or a ref)
}

// dimension returns a dimension's value as a logical id (a Ref or GetAtt) or a string.
func (w watched) dimension(name string) string {
	v := w.dims[name]
	if id := refID(v); id != "" {
		return id
	}
	s, _ := v.(string)
	return s
}

func dimsOf(v any) map[string]any {
	out := map[string]any{}
	dims, _ := v.([]any)
	for _, d := range dims {
		m := d.(map[string]any)
		out[m["Name"].(string)] = m["Value"]
	}
	return out
}

// watchedBy lists the metrics an alarm reads and its math expression, if any.
func watchedBy(a resource) (metrics []watched, expression string) {
	if name, ok := a.Properties["MetricName"].(string); ok {
		ns, _ := a.Properties["Namespace"].(string)
		return []watched{{ns, name, dimsOf(a.Properties["Dimensions"])}}, ""
	}
	queries, _ := a.Properties["Metrics"].([]any)
	for _, q := range queries {
		m := q.(map[string]any)
		if e, ok := m["Expression"].(string); ok {
			expression = e
			continue
		}
		stat := m["MetricStat"].(map[string]any)["Metric"].(map[string]any)
		metrics = append(metrics, watched{stat["Namespace"].(string), stat["MetricName"].(string), dimsOf(stat["Dimensions"])})
	}
	return metrics, expression
}

// alarmsOn returns the alarms reading metric with dimension dim = value (a
// logical id or a string), by logical id.
func alarmsOn(s *synthesized, metric, dim, value string) map[string]resource {
	out := map[string]resource{}
	for id, a := range s.ofType("AWS::CloudWatch::Alarm") {
		ms, _ := watchedBy(a)
		for _, m := range ms {
			if m.metric == metric && m.dimension(dim) == value {
				out[id] = a
			}
		}
	}
	return out
}

func TestAlarms(t *testing.T) {
	ops := shared.logicalID(t, "AWS::SNS::Topic", "OpsTopic")
	type key struct{ metric, dimension string }
	alarms := map[key]bool{}
	for id, a := range shared.ofType("AWS::CloudWatch::Alarm") {
		assert.Equal(t, []any{map[string]any{"Ref": ops}}, a.Properties["AlarmActions"], "%s notifies the ops topic", id)
		ms, _ := watchedBy(a)
		require.NotEmpty(t, ms, "%s watches a metric", id)
		for _, m := range ms {
			for _, v := range m.dims {
				dim := refID(v)
				if dim == "" {
					dim, _ = v.(string)
				}
				alarms[key{m.metric, dim}] = true
			}
			if len(m.dims) == 0 {
				alarms[key{m.metric, ""}] = true
			}
		}
	}
	for id := range deadLetterQueues(shared) {
		// The queue dimension is the queue's name (Fn::GetAtt QueueName).
		found := alarmsOn(shared, "ApproximateNumberOfMessagesVisible", "QueueName", id)
		assert.Len(t, found, 1, "an alarm on dead-letter queue %s", id)
		for _, a := range found {
			assert.Equal(t, float64(0), a.Properties["Threshold"], "alarms on the first message")
			assert.Equal(t, "GreaterThanThreshold", a.Properties["ComparisonOperator"])
			assert.Equal(t, "Maximum", a.Properties["Statistic"])
		}
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

// TestProjectionDLQAlarms: each projection's dead-letter queue alarms on depth > 0.
func TestProjectionDLQAlarms(t *testing.T) {
	for _, p := range registered {
		dlq := shared.logicalID(t, "AWS::SQS::Queue", "ProjectionDLQ"+idPart(p.Name()))
		found := alarmsOn(shared, "ApproximateNumberOfMessagesVisible", "QueueName", dlq)
		require.Len(t, found, 1, p.Name())
		for _, a := range found {
			assert.Equal(t, "AWS/SQS", a.Properties["Namespace"])
			assert.Equal(t, float64(0), a.Properties["Threshold"])
			assert.Equal(t, float64(1), a.Properties["EvaluationPeriods"])
		}
	}
}

// TestErrorAlarmsIgnoreRoutineRetries: a function's errors alarm is a rate over
// several periods, never "any error".
func TestErrorAlarmsIgnoreRoutineRetries(t *testing.T) {
	for id := range shared.ofType("AWS::Lambda::Function") {
		found := alarmsOn(shared, "Errors", "FunctionName", id)
		require.Len(t, found, 1, id)
		for aid, a := range found {
			ms, expr := watchedBy(a)
			assert.Equal(t, "IF(invocations > 0, 100 * errors / invocations, 0)", expr, "%s is a rate", aid)
			names := []string{}
			for _, m := range ms {
				assert.Equal(t, "AWS/Lambda", m.namespace)
				assert.Equal(t, id, m.dimension("FunctionName"))
				names = append(names, m.metric)
			}
			assert.ElementsMatch(t, []string{"Errors", "Invocations"}, names)
			assert.Equal(t, float64(stack.ErrorRatePercent), a.Properties["Threshold"])
			assert.Equal(t, float64(stack.ErrorRatePeriods), a.Properties["EvaluationPeriods"])
			assert.Greater(t, stack.ErrorRatePeriods, 1, "several periods")
			assert.Nil(t, a.Properties["DatapointsToAlarm"], "every period must breach")
			for _, q := range a.Properties["Metrics"].([]any) {
				if st, ok := q.(map[string]any)["MetricStat"].(map[string]any); ok {
					assert.Equal(t, float64(300), st["Period"])
					assert.Equal(t, "Sum", st["Stat"])
				}
			}
		}
	}
}

func TestAsyncEventsDroppedAlarms(t *testing.T) {
	configs := shared.ofType("AWS::Lambda::EventInvokeConfig")
	require.NotEmpty(t, configs, "billing-close is invoked asynchronously")
	for id, c := range configs {
		fn := refID(c.Properties["FunctionName"])
		require.NotEmpty(t, fn, id)
		found := alarmsOn(shared, "AsyncEventsDropped", "FunctionName", fn)
		require.Len(t, found, 1, "an AsyncEventsDropped alarm on %s", fn)
		for _, a := range found {
			assert.Equal(t, "AWS/Lambda", a.Properties["Namespace"])
			assert.Equal(t, "Sum", a.Properties["Statistic"])
			assert.Equal(t, float64(0), a.Properties["Threshold"])
		}
	}
}

func TestTableAlarms(t *testing.T) {
	for _, prefix := range []string{"EventsTable", "ReadModelsTable"} {
		table := shared.logicalID(t, "AWS::DynamoDB::Table", prefix)
		t.Run(prefix, func(t *testing.T) {
			conflicts := alarmsOn(shared, "TransactionConflict", "TableName", table)
			require.Len(t, conflicts, 1)
			for _, a := range conflicts {
				assert.Equal(t, "AWS/DynamoDB", a.Properties["Namespace"])
				assert.Equal(t, "Sum", a.Properties["Statistic"])
				assert.Equal(t, float64(stack.TransactionConflictsPerPeriod), a.Properties["Threshold"])
				assert.Greater(t, a.Properties["EvaluationPeriods"], float64(1), "sustained conflicts only")
			}
			throttled := alarmsOn(shared, "ThrottledRequests", "TableName", table)
			require.Len(t, throttled, 1)
			for _, a := range throttled {
				ms, expr := watchedBy(a)
				assert.NotEmpty(t, expr)
				var ops []string
				for _, m := range ms {
					assert.Equal(t, "AWS/DynamoDB", m.namespace)
					assert.Equal(t, table, m.dimension("TableName"))
					ops = append(ops, m.dimension("Operation"))
				}
				assert.LessOrEqual(t, len(ms), 10, "an alarm reads at most 10 metrics")
				assert.Subset(t, ops, []string{"GetItem", "Query", "PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem"})
				assert.Equal(t, float64(0), a.Properties["Threshold"])
				assert.Equal(t, float64(stack.ThrottledMinutes), a.Properties["EvaluationPeriods"])
			}
		})
	}
}

func TestProjectionQueueAgeAlarms(t *testing.T) {
	for _, p := range registered {
		queue := shared.logicalID(t, "AWS::SQS::Queue", "ProjectionQueue"+idPart(p.Name()))
		found := alarmsOn(shared, "ApproximateAgeOfOldestMessage", "QueueName", queue)
		require.Len(t, found, 1, p.Name())
		for _, a := range found {
			assert.Equal(t, "AWS/SQS", a.Properties["Namespace"])
			assert.Equal(t, "Maximum", a.Properties["Statistic"])
			assert.Equal(t, float64(stack.ProjectionQueueAgeAlarmSecs), a.Properties["Threshold"])
			assert.Greater(t, float64(stack.ProjectionQueueAgeAlarmSecs), float64(stack.ProjectionVisibilitySecs), "a single redelivery does not trip it")
		}
	}
}

func TestAPI5xxRateAlarm(t *testing.T) {
	api := shared.logicalID(t, "AWS::ApiGatewayV2::Api", "")
	found := alarmsOn(shared, "5xx", "ApiId", api)
	require.Len(t, found, 1)
	for _, a := range found {
		ms, expr := watchedBy(a)
		assert.Contains(t, expr, "100 * FILL(errors, 0) / requests")
		var names []string
		for _, m := range ms {
			assert.Equal(t, "AWS/ApiGateway", m.namespace)
			assert.Equal(t, api, m.dimension("ApiId"))
			names = append(names, m.metric)
		}
		assert.ElementsMatch(t, []string{"5xx", "Count"}, names)
		assert.Equal(t, float64(stack.API5xxRatePercent), a.Properties["Threshold"])
		assert.Greater(t, a.Properties["EvaluationPeriods"], float64(1))
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
