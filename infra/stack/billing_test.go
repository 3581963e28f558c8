package stack_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBillingClose(t *testing.T) {
	// Found by its queue variable: "BillingClose" is also the worker's id prefix.
	var closeFn string
	for id, r := range shared.ofType("AWS::Lambda::Function") {
		if _, ok := envVars(r)["BILLING_CLOSE_QUEUE_URL"]; ok {
			closeFn = id
		}
	}
	require.NotEmpty(t, closeFn)
	worker := shared.logicalID(t, "AWS::Lambda::Function", "BillingCloseWorker")
	queue := shared.logicalID(t, "AWS::SQS::Queue", "BillingCloseQueue")
	dlq := shared.logicalID(t, "AWS::SQS::Queue", "BillingCloseDLQ")

	schedules := shared.ofType("AWS::Scheduler::Schedule")
	require.Len(t, schedules, 1)
	for _, s := range schedules {
		assert.Equal(t, "cron(0 2 1 * ? *)", s.Properties["ScheduleExpression"], "monthly")
		assert.Equal(t, "UTC", s.Properties["ScheduleExpressionTimezone"])
		target := s.Properties["Target"].(map[string]any)
		assert.Equal(t, closeFn, refID(target["Arn"]), "runs billing-close")
		scheduleDLQ := refID(target["DeadLetterConfig"].(map[string]any)["Arn"])
		assert.Equal(t, "AWS::SQS::Queue", shared.resources[scheduleDLQ].Type, "the schedule's target has a dead-letter queue")
		assert.Positive(t, target["RetryPolicy"].(map[string]any)["MaximumRetryAttempts"])
	}

	q := shared.resources[queue].Properties
	assert.Equal(t, getAtt(dlq, "Arn"), q["RedrivePolicy"].(map[string]any)["deadLetterTargetArn"])
	assert.Equal(t, float64(12*60), q["VisibilityTimeout"], "six times the worker's timeout")
	env := shared.resources[closeFn].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, map[string]any{"Ref": queue}, env["BILLING_CLOSE_QUEUE_URL"])

	var mappings []resource
	for _, m := range shared.ofType("AWS::Lambda::EventSourceMapping") {
		if refID(m.Properties["FunctionName"]) == worker {
			mappings = append(mappings, m)
		}
	}
	require.Len(t, mappings, 1)
	for _, m := range mappings {
		assert.Equal(t, getAtt(queue, "Arn"), m.Properties["EventSourceArn"])
		assert.Equal(t, []any{"ReportBatchItemFailures"}, m.Properties["FunctionResponseTypes"], "partial batch responses")
	}
}

func TestTopics(t *testing.T) {
	topics := shared.ofType("AWS::SNS::Topic")
	require.Len(t, topics, 4, "invoices, onboarding, members, ops")
	for id, tp := range topics {
		assert.NotNil(t, tp.Properties["KmsMasterKeyId"], "%s is encrypted", id)
	}
	assert.Empty(t, shared.ofType("AWS::SNS::Subscription"), "no e-mail without context")

	v := variant(t)
	endpoints := map[string][]string{}
	for _, s := range v.ofType("AWS::SNS::Subscription") {
		assert.Equal(t, "email", s.Properties["Protocol"])
		endpoints[s.Properties["Endpoint"].(string)] = append(endpoints[s.Properties["Endpoint"].(string)], refID(s.Properties["TopicArn"]))
	}
	assert.ElementsMatch(t, []string{v.logicalID(t, "AWS::SNS::Topic", "InvoicesTopic"), v.logicalID(t, "AWS::SNS::Topic", "OnboardingTopic")}, endpoints["billing@example.com"])
	assert.Equal(t, []string{v.logicalID(t, "AWS::SNS::Topic", "OpsTopic")}, endpoints["ops@example.com"])
	members := v.logicalID(t, "AWS::SNS::Topic", "MembersTopic")
	for endpoint, topics := range endpoints {
		assert.NotContains(t, topics, members, "%s would get every invitation's and reset's token", endpoint)
	}

	// The outbox projector publishes invitations and resets to the members topic.
	for id, fn := range shared.ofType("AWS::Lambda::Function") {
		if strings.HasPrefix(id, "Projectoroutbox") {
			env := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
			assert.Equal(t, map[string]any{"Ref": shared.logicalID(t, "AWS::SNS::Topic", "MembersTopic")}, env["TENANTSTREAM_MEMBERS_TOPIC_ARN"])
		}
	}
}
