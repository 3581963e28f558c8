package wire

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tenantstream/tenantstream/events/eventbridge"
)

// RedriveSQS is the SQS calls a redrive makes; *sqs.Client is one.
type RedriveSQS interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// ProjectionQueues are a projection's queue and dead-letter queue.
type ProjectionQueues struct {
	Projection, QueueURL, DLQURL string
}

// FindProjectionQueues looks up the queues infra names for projection in the
// stack named prefix (eventbridge.ProjectionQueueName).
func FindProjectionQueues(ctx context.Context, q RedriveSQS, prefix, projection string) (ProjectionQueues, error) {
	pq := ProjectionQueues{Projection: projection}
	for _, t := range []struct {
		name string
		url  *string
	}{{eventbridge.ProjectionQueueName(prefix, projection), &pq.QueueURL}, {eventbridge.ProjectionDLQName(prefix, projection), &pq.DLQURL}} {
		out, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(t.name)})
		var missing *sqstypes.QueueDoesNotExist
		if errors.As(err, &missing) {
			return pq, fmt.Errorf("queue %s not found (is the stack's prefix %q, and the region right?)", t.name, prefix)
		}
		if err != nil {
			return pq, fmt.Errorf("queue %s: %w", t.name, err)
		}
		*t.url = aws.ToString(out.QueueUrl)
	}
	return pq, nil
}

// QueueDepth is SQS's approximate count of a queue's messages: visible ones
// and those received and not yet deleted (in flight).
type QueueDepth struct {
	Visible, InFlight int
}

// Depth reads the queue's approximate message counts.
func Depth(ctx context.Context, q RedriveSQS, url string) (QueueDepth, error) {
	out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return QueueDepth{}, fmt.Errorf("queue attributes of %s: %w", url, err)
	}
	var d QueueDepth
	d.Visible, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	d.InFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return d, nil
}

// RedriveOptions tune Redrive.
type RedriveOptions struct {
	// WaitSeconds is the long poll of each receive (0 to 20); a receive that
	// finds nothing after it ends the redrive. Long polling asks every SQS
	// server, so an empty answer means the queue is empty, not that a short
	// poll sampled the servers that hold nothing.
	WaitSeconds int32
	// VisibilitySeconds hides a received message from other readers while it is
	// copied; a redrive that dies between send and delete leaves it in the
	// dead-letter queue, visible again after this, and already sent: the
	// projection skips the duplicate (decision 4 in docs/ARCHITECTURE.md).
	VisibilitySeconds int32
	// Max stops after moving this many messages; 0: no limit.
	Max int
}

// Redrive moves the dead-letter queue's messages back to the source queue:
// receive up to 10, send them (body and message attributes) to the source with
// SendMessageBatch, then delete from the dead-letter queue those the source
// accepted. Delivery is at least once, as everywhere on the feed: a crash
// between send and delete sends a message twice. It returns how many it moved;
// a message the source refused stays in the dead-letter queue and is an error.
//
// Receive, send and delete rather than SQS's StartMessageMoveTask: the move
// task is asynchronous, only one may run per queue, and it reports an
// approximate count; this counts exactly what it moved and works the same on
// moto and the tests' fake (docs/aws.md, "Redrive runbook").
func Redrive(ctx context.Context, q RedriveSQS, pq ProjectionQueues, o RedriveOptions) (int, error) {
	if o.VisibilitySeconds == 0 {
		o.VisibilitySeconds = 60
	}
	moved, refused := 0, 0
	for o.Max == 0 || moved < o.Max {
		n := int32(10)
		if o.Max > 0 && o.Max-moved < 10 {
			n = int32(o.Max - moved)
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(pq.DLQURL), MaxNumberOfMessages: n,
			WaitTimeSeconds: o.WaitSeconds, VisibilityTimeout: o.VisibilitySeconds, MessageAttributeNames: []string{"All"}})
		if err != nil {
			return moved, fmt.Errorf("receive from %s: %w", pq.DLQURL, err)
		}
		if len(out.Messages) == 0 {
			break
		}
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body, MessageAttributes: m.MessageAttributes}
		}
		sent, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(pq.QueueURL), Entries: entries})
		if err != nil {
			return moved, fmt.Errorf("send to %s: %w", pq.QueueURL, err)
		}
		refused += len(sent.Failed)
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for _, s := range sent.Successful {
			i, _ := strconv.Atoi(aws.ToString(s.Id))
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: s.Id, ReceiptHandle: out.Messages[i].ReceiptHandle})
		}
		if len(del) == 0 {
			continue
		}
		d, err := q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(pq.DLQURL), Entries: del})
		if err != nil {
			return moved, fmt.Errorf("delete from %s (the messages were sent: they will be delivered twice): %w", pq.DLQURL, err)
		}
		moved += len(d.Successful)
		if len(d.Failed) > 0 {
			return moved, fmt.Errorf("delete from %s: %d of %d failed (%s); they were sent and will be delivered twice", pq.DLQURL, len(d.Failed), len(del), aws.ToString(d.Failed[0].Message))
		}
	}
	if refused > 0 {
		return moved, fmt.Errorf("the source queue refused %d messages; they stay in %s", refused, pq.DLQURL)
	}
	return moved, nil
}
