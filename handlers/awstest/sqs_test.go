package awstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fake's semantics, one by one (docs/aws.md, "Delivery that cannot drop an event").
func TestSQSFake(t *testing.T) {
	ctx := context.Background()
	newQueue := func() (*SQS, *FakeQueue, *FakeQueue) {
		s := &SQS{}
		dlq := s.AddQueue("dlq", 0, nil, 0)
		return s, s.AddQueue("q", time.Minute, dlq, 3), dlq
	}

	t.Run("a record that always fails is received maxReceiveCount times, then dead-lettered", func(t *testing.T) {
		s, q, dlq := newQueue()
		bad := s.Send(q, "bad")
		s.Send(q, "good")
		receives := map[string]int{}
		st, err := s.Drain(ctx, q, 10, func(_ context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
			var r events.SQSEventResponse
			for _, m := range e.Records {
				receives[m.Body]++
				if m.Body == "bad" {
					r.BatchItemFailures = append(r.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				}
			}
			return r, nil
		})
		require.NoError(t, err)
		assert.Equal(t, map[string]int{"bad": 3, "good": 1}, receives, "only the failed record is redelivered")
		assert.Equal(t, 3, st.Failed)
		assert.Equal(t, []string{"bad"}, s.Bodies(dlq))
		assert.Equal(t, bad, dlq.msgs[0].id, "the message id is kept")
	})

	t.Run("a function error or an unknown itemIdentifier fails the whole batch", func(t *testing.T) {
		for name, fn := range map[string]func(context.Context, events.SQSEvent) (events.SQSEventResponse, error){
			"error": func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				return events.SQSEventResponse{}, errors.New("boom")
			},
			"unknown id": func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ""}}}, nil
			},
		} {
			s, q, dlq := newQueue()
			s.Send(q, "a")
			s.Send(q, "b")
			_, err := s.Drain(ctx, q, 10, fn)
			require.NoError(t, err, name)
			assert.ElementsMatch(t, []string{"a", "b"}, s.Bodies(dlq), name)
		}
	})

	t.Run("a received message is invisible until its visibility timeout", func(t *testing.T) {
		s, q, _ := newQueue()
		s.Send(q, "a")
		require.Len(t, s.receive(q, 10, q.VisibilityTimeout), 1)
		assert.Empty(t, s.receive(q, 10, q.VisibilityTimeout))
		s.Advance(time.Minute)
		assert.Len(t, s.receive(q, 10, q.VisibilityTimeout), 1)
	})
}
