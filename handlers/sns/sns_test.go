package sns_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	snsapi "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/sns"
	"github.com/tenantstream/tenantstream/projections"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func notification(id, typ, tenant string) projections.Notification {
	return projections.Notification{ID: id, Type: typ, TenantID: tenant,
		CreatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Data: json.RawMessage(`{"number":1}`)}
}

// subscribe creates a queue and subscribes it to topic with raw delivery and
// the filter policy (when not empty).
func subscribe(t *testing.T, ctx context.Context, s *snsapi.Client, q *sqs.Client, name, topic, policy string, fifo bool) string {
	t.Helper()
	in := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if fifo {
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	queue, err := q.CreateQueue(ctx, in)
	require.NoError(t, err)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	subAttrs := map[string]string{"RawMessageDelivery": "true"}
	if policy != "" {
		subAttrs["FilterPolicy"] = policy
	}
	_, err = s.Subscribe(ctx, &snsapi.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]), Attributes: subAttrs})
	require.NoError(t, err)
	return aws.ToString(queue.QueueUrl)
}

// drain receives until the queue has been empty for one long poll.
func drain(t *testing.T, ctx context.Context, q *sqs.Client, url string) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	for {
		res, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		require.NoError(t, err)
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			_, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
		out = append(out, res.Messages...)
	}
}

func TestPublishRoutesAndFilters(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	s, q := snsapi.NewFromConfig(moto.Config()), sqs.NewFromConfig(moto.Config())
	topics, err := sns.CreateTopics(ctx, s, "ts", false)
	require.NoError(t, err)
	invoices := subscribe(t, ctx, s, q, "invoices-t1", topics.Invoices, `{"tenant_id":["t1"],"event_type":["invoice.issued"]}`, false)
	onboarding := subscribe(t, ctx, s, q, "onboarding-all", topics.Onboarding, "", false)
	p := &sns.Publisher{Client: s, Topics: topics}

	tests := []struct {
		n       projections.Notification
		wantErr error
	}{
		{n: notification("e1", "invoice.issued", "t1")},
		{n: notification("e2", "invoice.issued", "t2")}, // filtered out for the t1 queue
		{n: notification("e3", "tenant.onboarded", "t2")},
		{n: notification("e4", "item.put", "t1"), wantErr: sns.ErrNoTopic},
	}
	for _, tt := range tests {
		id, err := p.Publish(ctx, tt.n)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr)
			continue
		}
		require.NoError(t, err)
		assert.NotEmpty(t, id)
	}

	got := drain(t, ctx, q, invoices)
	require.Len(t, got, 1, "the filter policy keeps t1's invoices only")
	var n projections.Notification
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(got[0].Body)), &n), "raw delivery carries the notification itself")
	assert.Equal(t, notification("e1", "invoice.issued", "t1"), n)
	assert.Equal(t, "t1", aws.ToString(got[0].MessageAttributes[sns.AttrTenantID].StringValue))
	assert.Equal(t, "invoice.issued", aws.ToString(got[0].MessageAttributes[sns.AttrEventType].StringValue))

	got = drain(t, ctx, q, onboarding)
	require.Len(t, got, 1)
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(got[0].Body)), &n))
	assert.Equal(t, "e3", n.ID)
}

func TestPublishFIFODeduplicatesByEventID(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	s, q := snsapi.NewFromConfig(moto.Config()), sqs.NewFromConfig(moto.Config())
	topics, err := sns.CreateTopics(ctx, s, "ts", true)
	require.NoError(t, err)
	require.True(t, sns.IsFIFO(topics.Invoices))
	url := subscribe(t, ctx, s, q, "invoices.fifo", topics.Invoices, "", true)
	p := &sns.Publisher{Client: s, Topics: topics}

	// The outbox redelivers after a crash: the same event id twice is one message.
	for range 2 {
		_, err := p.Publish(ctx, notification("e1", "invoice.issued", "t1"))
		require.NoError(t, err)
	}
	_, err = p.Publish(ctx, notification("e2", "invoice.issued", "t1"))
	require.NoError(t, err)

	got := drain(t, ctx, q, url)
	var ids []string
	for _, m := range got {
		var n projections.Notification
		require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &n))
		ids = append(ids, n.ID)
		assert.Equal(t, "t1", m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)], "the tenant is the message group")
	}
	assert.Equal(t, []string{"e1", "e2"}, ids)
}
