package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/handlers/awstest"
)

// `projections redrive` on moto: the dry run counts, the redrive moves every
// message (body intact) back to the projection's queue and empties the DLQ.
func TestProjectionsRedriveOnMoto(t *testing.T) {
	moto := newDDBFixture(t).moto // for its credentials from the environment only
	ctx := t.Context()
	q := sqs.NewFromConfig(moto.Config())
	prefix := fmt.Sprintf("rd%d", time.Now().UnixNano())
	url := func(name string) string {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		require.NoError(t, err)
		return aws.ToString(out.QueueUrl)
	}
	src, dlq := url(eventbridge.ProjectionQueueName(prefix, "items")), url(eventbridge.ProjectionDLQName(prefix, "items"))
	var want []string
	for i := range 13 {
		body := fmt.Sprintf(`{"detail-type":"Event from aws:dynamodb","n":%d}`, i)
		want = append(want, body)
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(body)})
		require.NoError(t, err)
	}
	flags := []string{"--backend", "dynamodb", "--region", awstest.Region, "--endpoint-url", moto.Endpoint, "--prefix", prefix}

	out, _, err := runCLI(t, append([]string{"projections", "redrive", "items", "--dry-run"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, "items: 13 messages in the dead-letter queue (0 in flight); dry run, nothing moved\n", out)

	out, _, err = runCLI(t, append([]string{"projections", "redrive", "items"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, "items: moved 13 messages back to its queue\n", out)
	var got []string
	for {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(src), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			got = append(got, aws.ToString(m.Body))
		}
	}
	assert.ElementsMatch(t, want, got, "every message back on the projection's queue")
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	require.NoError(t, err)
	assert.Equal(t, "0", attrs.Attributes["ApproximateNumberOfMessages"])

	_, _, err = runCLI(t, append([]string{"projections", "redrive", "ledgers"}, flags...)...)
	require.ErrorContains(t, err, prefix+"-projection-ledgers not found", "a missing queue names itself")
}

func TestProjectionsRedriveUsage(t *testing.T) {
	for args, want := range map[string]string{
		"projections redrive items":                                "needs --backend dynamodb",
		"projections redrive nope --backend dynamodb":              "unknown projection",
		"projections redrive --backend dynamodb":                   "name one projection or pass --all",
		"projections redrive items --all --backend dynamodb":       "name one projection or pass --all",
		"projections redrive items --backend dynamodb --feed pipe": "--feed \"pipe\": want sqs or kinesis",
	} {
		_, _, err := runCLI(t, strings.Fields(args)...)
		require.ErrorContains(t, err, want, args)
		assert.Equal(t, 2, exitStatus(err), args)
	}
}
