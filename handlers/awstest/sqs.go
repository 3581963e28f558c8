package awstest

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS plays standard SQS queues with redrive policies, and the Lambda event
// source mapping that drains one with ReportBatchItemFailures, on a logical
// clock, as LeadingKeys plays the tenant role's IAM policy. moto keeps queues
// but runs no event source mappings, counts receives loosely and moves nothing
// to a dead-letter queue on its own; these are the semantics the projectors'
// delivery relies on (docs/aws.md, "Delivery that cannot drop an event"):
//
//   - A received message stays in the queue, invisible for the visibility
//     timeout; only a delete removes it. Its ApproximateReceiveCount goes up on
//     every receive.
//   - A receive that finds a message already received MaxReceiveCount times
//     moves it to the dead-letter queue instead of returning it (the redrive
//     policy); its message id and body are kept.
//   - A standard queue keeps no order: receives pick visible messages in a
//     random order (Rand), and Duplicate is the chance that a send is stored
//     twice (at-least-once delivery).
//   - Drain is the event source mapping: it receives up to BatchSize messages,
//     invokes the function synchronously with them, and then deletes every
//     record except those named in batchItemFailures. A function error, or a
//     response naming an empty or unknown itemIdentifier, fails the whole
//     batch: nothing is deleted.
//
// The same value also answers the SQS calls an operator tool makes
// (GetQueueUrl, GetQueueAttributes, ReceiveMessage, SendMessageBatch,
// DeleteMessageBatch), so a redrive can be run against it. Queue URLs are
// "fake://<name>". It is safe for concurrent use.
type SQS struct {
	// Rand orders receives; nil: a fixed seed.
	Rand *rand.Rand
	// Duplicate is the chance that a sent message is stored twice.
	Duplicate float64

	mu     sync.Mutex
	now    time.Time
	seq    int
	queues map[string]*FakeQueue
}

// FakeQueue is one queue of an SQS fake.
type FakeQueue struct {
	Name              string
	VisibilityTimeout time.Duration
	MaxReceiveCount   int        // with DLQ: receives before a message moves there
	DLQ               *FakeQueue // nil: no redrive policy
	msgs              []*fakeMsg
}

type fakeMsg struct {
	id, body, receipt string
	attrs             map[string]sqstypes.MessageAttributeValue
	receives          int
	visibleAt         time.Time
}

// AddQueue creates a queue; dlq (may be nil) receives what was received
// maxReceive times.
func (s *SQS) AddQueue(name string, visibility time.Duration, dlq *FakeQueue, maxReceive int) *FakeQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queues == nil {
		s.queues = map[string]*FakeQueue{}
		s.now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	if s.Rand == nil {
		s.Rand = rand.New(rand.NewSource(1))
	}
	q := &FakeQueue{Name: name, VisibilityTimeout: visibility, DLQ: dlq, MaxReceiveCount: maxReceive}
	s.queues[name] = q
	return q
}

// URL is the fake's queue URL of q.
func (q *FakeQueue) URL() string { return "fake://" + q.Name }

// Send stores body in q (what an EventBridge rule's SQS target does with a
// matched event) and returns its message id.
func (s *SQS) Send(q *FakeQueue, body string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.send(q, body, nil)
}

func (s *SQS) send(q *FakeQueue, body string, attrs map[string]sqstypes.MessageAttributeValue) string {
	s.seq++
	id := fmt.Sprintf("msg-%d", s.seq)
	q.msgs = append(q.msgs, &fakeMsg{id: id, body: body, attrs: attrs, visibleAt: s.now})
	if s.Duplicate > 0 && s.Rand.Float64() < s.Duplicate {
		q.msgs = append(q.msgs, &fakeMsg{id: id, body: body, attrs: attrs, visibleAt: s.now})
	}
	return id
}

// Len is how many messages q holds, visible or not.
func (s *SQS) Len(q *FakeQueue) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(q.msgs)
}

// Bodies are the bodies q holds, visible or not.
func (s *SQS) Bodies(q *FakeQueue) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range q.msgs {
		out = append(out, m.body)
	}
	return out
}

// Advance moves the logical clock, making messages visible again.
func (s *SQS) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// receive is ReceiveMessage on q, with the redrive policy applied.
func (s *SQS) receive(q *FakeQueue, max int, visibility time.Duration) []*fakeMsg {
	var visible []*fakeMsg
	for _, m := range q.msgs {
		if !m.visibleAt.After(s.now) {
			visible = append(visible, m)
		}
	}
	s.Rand.Shuffle(len(visible), func(i, j int) { visible[i], visible[j] = visible[j], visible[i] })
	var out []*fakeMsg
	for _, m := range visible {
		if len(out) == max {
			break
		}
		if q.DLQ != nil && m.receives >= q.MaxReceiveCount {
			q.msgs = slices.DeleteFunc(q.msgs, func(x *fakeMsg) bool { return x == m })
			q.DLQ.msgs = append(q.DLQ.msgs, &fakeMsg{id: m.id, body: m.body, attrs: m.attrs, visibleAt: s.now})
			continue
		}
		m.receives++
		s.seq++
		m.receipt = fmt.Sprintf("rh-%d", s.seq)
		m.visibleAt = s.now.Add(visibility)
		out = append(out, m)
	}
	return out
}

func (s *SQS) delete(q *FakeQueue, receipt string) bool {
	n := len(q.msgs)
	q.msgs = slices.DeleteFunc(q.msgs, func(m *fakeMsg) bool { return m.receipt == receipt })
	return len(q.msgs) < n
}

// ESMStats counts what Drain did.
type ESMStats struct {
	Invocations, Records, Failed int
}

// Drain runs q's event source mapping until q is empty: batches of up to
// batchSize visible messages go to fn; when none is visible the clock moves
// on to the next message's visibility. It stops after maxInvocations (an
// error) so a test cannot spin.
func (s *SQS) Drain(ctx context.Context, q *FakeQueue, batchSize int, fn func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) (ESMStats, error) {
	const maxInvocations = 10_000
	var st ESMStats
	for st.Invocations < maxInvocations {
		s.mu.Lock()
		if len(q.msgs) == 0 {
			s.mu.Unlock()
			return st, nil
		}
		batch := s.receive(q, batchSize, q.VisibilityTimeout)
		if len(batch) == 0 {
			if len(q.msgs) == 0 { // the receive moved the rest to the dead-letter queue
				s.mu.Unlock()
				return st, nil
			}
			next := q.msgs[0].visibleAt
			for _, m := range q.msgs {
				if m.visibleAt.Before(next) {
					next = m.visibleAt
				}
			}
			if next.After(s.now) {
				s.now = next
			}
			s.mu.Unlock()
			continue
		}
		ev := events.SQSEvent{}
		for _, m := range batch {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body, EventSource: "aws:sqs",
				EventSourceARN: "arn:aws:sqs:us-east-1:111122223333:" + q.Name,
				Attributes:     map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives)}})
		}
		s.mu.Unlock()

		st.Invocations++
		st.Records += len(batch)
		resp, err := fn(ctx, ev)
		failed := map[string]bool{}
		if err == nil {
			for _, f := range resp.BatchItemFailures {
				if !slices.ContainsFunc(batch, func(m *fakeMsg) bool { return m.id == f.ItemIdentifier }) {
					err = fmt.Errorf("batchItemFailures names %q, not a record of the batch", f.ItemIdentifier)
					break
				}
				failed[f.ItemIdentifier] = true
			}
		}
		s.mu.Lock()
		for _, m := range batch {
			if err != nil || failed[m.id] {
				st.Failed++
				continue // visible again after the visibility timeout
			}
			s.delete(q, m.receipt)
		}
		s.mu.Unlock()
	}
	return st, errors.New("awstest.SQS: the queue did not drain")
}

// The SQS API subset of an operator tool.

func (s *SQS) queue(url *string) (*FakeQueue, error) {
	name, ok := strings.CutPrefix(aws.ToString(url), "fake://")
	q := s.queues[name]
	if !ok || q == nil {
		return nil, &sqstypes.QueueDoesNotExist{Message: aws.String("no queue " + aws.ToString(url))}
	}
	return q, nil
}

// GetQueueUrl answers fake://<name> for a queue of the fake.
func (s *SQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(aws.String("fake://" + aws.ToString(in.QueueName)))
	if err != nil {
		return nil, err
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(q.URL())}, nil
}

// GetQueueAttributes answers ApproximateNumberOfMessages (visible) and
// ApproximateNumberOfMessagesNotVisible, exactly.
func (s *SQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	visible, hidden := 0, 0
	for _, m := range q.msgs {
		if m.visibleAt.After(s.now) {
			hidden++
		} else {
			visible++
		}
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameApproximateNumberOfMessages):           strconv.Itoa(visible),
		string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible): strconv.Itoa(hidden),
		string(sqstypes.QueueAttributeNameQueueArn):                              "arn:aws:sqs:us-east-1:111122223333:" + q.Name,
	}}, nil
}

// ReceiveMessage receives up to MaxNumberOfMessages (default 1, at most 10).
func (s *SQS) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	max := int(in.MaxNumberOfMessages)
	if max == 0 {
		max = 1
	}
	if max > 10 {
		return nil, errors.New("MaxNumberOfMessages: at most 10")
	}
	visibility := q.VisibilityTimeout
	if in.VisibilityTimeout > 0 {
		visibility = time.Duration(in.VisibilityTimeout) * time.Second
	}
	out := &sqs.ReceiveMessageOutput{}
	for _, m := range s.receive(q, max, visibility) {
		out.Messages = append(out.Messages, sqstypes.Message{MessageId: aws.String(m.id), ReceiptHandle: aws.String(m.receipt), Body: aws.String(m.body),
			MessageAttributes: m.attrs})
	}
	return out, nil
}

// SendMessageBatch sends up to 10 entries.
func (s *SQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, errors.New("SendMessageBatch: 1 to 10 entries")
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		id := s.send(q, aws.ToString(e.MessageBody), e.MessageAttributes)
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(id)})
	}
	return out, nil
}

// DeleteMessageBatch deletes up to 10 messages by receipt handle.
func (s *SQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queue(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		if s.delete(q, aws.ToString(e.ReceiptHandle)) {
			out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
		} else {
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"), SenderFault: true})
		}
	}
	return out, nil
}
