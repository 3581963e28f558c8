package awstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tskinesis "github.com/tenantstream/tenantstream/events/kinesis"
)

// The Kinesis fake's semantics, one by one (docs/aws.md, "The Kinesis feed").
func TestKinesisFake(t *testing.T) {
	ctx := context.Background()
	// newStream holds records "r0".."r<n-1>" under one key, so on one shard in order.
	newStream := func(n int) (*Kinesis, *KinesisMapping, *SQS, *FakeQueue, []string) {
		k := &Kinesis{Shards: 1}
		var seqs []string
		for i := range n {
			_, seq := k.Put("key", fmt.Appendf(nil, "r%d", i))
			seqs = append(seqs, seq)
		}
		dests := &SQS{}
		dlq := dests.AddQueue("dlq", 0, nil, 0)
		return k, &KinesisMapping{BatchSize: 4, MaxRetryAttempts: 2, FunctionARN: "fn", OnFailure: dests, OnFailureQueue: dlq}, dests, dlq, seqs
	}
	type call []string // the data of one invocation's records
	record := func(calls *[]call, fail func(data string, i int) (failAt bool, fnErr bool)) func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
		return func(_ context.Context, e events.KinesisEvent) (events.KinesisEventResponse, error) {
			var c call
			for _, r := range e.Records {
				c = append(c, string(r.Kinesis.Data))
			}
			*calls = append(*calls, c)
			var resp events.KinesisEventResponse
			for i, r := range e.Records {
				if at, fnErr := fail(string(r.Kinesis.Data), i); at {
					if fnErr {
						return resp, errors.New("boom")
					}
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
				}
			}
			return resp, nil
		}
	}
	failed := func(t *testing.T, s *SQS, q *FakeQueue) []tskinesis.FailedBatch {
		var out []tskinesis.FailedBatch
		for _, b := range s.Bodies(q) {
			fb, err := tskinesis.ParseFailedBatch([]byte(b))
			require.NoError(t, err)
			out = append(out, fb)
		}
		return out
	}

	t.Run("a shard is read in put order, one key on one shard", func(t *testing.T) {
		k := &Kinesis{Shards: 4}
		shards := map[string]bool{}
		for i := range 20 {
			id, _ := k.Put("stream-a", fmt.Appendf(nil, "%02d", i))
			shards[id] = true
			k.Put(fmt.Sprintf("other-%d", i), []byte("x"))
		}
		assert.Len(t, shards, 1)
		var got []string
		var calls []call
		dests := &SQS{}
		_, err := k.Drain(ctx, &KinesisMapping{BatchSize: 3, OnFailure: dests, OnFailureQueue: dests.AddQueue("d", 0, nil, 0)},
			record(&calls, func(string, int) (bool, bool) { return false, false }))
		require.NoError(t, err)
		for _, c := range calls {
			for _, d := range c {
				if d != "x" {
					got = append(got, d)
				}
			}
		}
		require.Len(t, got, 20)
		for i, d := range got {
			assert.Equal(t, fmt.Sprintf("%02d", i), d)
		}
	})

	t.Run("a partial response checkpoints before the lowest failed record", func(t *testing.T) {
		k, m, dests, dlq, _ := newStream(6)
		var calls []call
		first := true
		_, err := k.Drain(ctx, m, record(&calls, func(d string, _ int) (bool, bool) {
			if (d == "r2" || d == "r3") && first {
				if d == "r3" {
					first = false
				}
				return true, false
			}
			return false, false
		}))
		require.NoError(t, err)
		assert.Equal(t, []call{{"r0", "r1", "r2", "r3"}, {"r2", "r3", "r4", "r5"}}, calls, "retried from r2, the lowest reported; r0 and r1 not again")
		assert.Zero(t, dests.Len(dlq))
	})

	t.Run("a function error bisects the batch, without using retries, until the bad record is alone", func(t *testing.T) {
		k, m, dests, dlq, seqs := newStream(4)
		m.BisectOnError = true
		var calls []call
		_, err := k.Drain(ctx, m, record(&calls, func(d string, i int) (bool, bool) { return d == "r0", true }))
		require.NoError(t, err)
		assert.Equal(t, call{"r0", "r1", "r2", "r3"}, calls[0])
		assert.Equal(t, call{"r0", "r1"}, calls[1])
		for _, c := range calls[2:5] {
			assert.Equal(t, call{"r0"}, c, "alone: the first try and MaxRetryAttempts (2) retries")
		}
		assert.Equal(t, call{"r1", "r2", "r3"}, calls[5], "the rest, once")
		assert.Len(t, calls, 6)
		fbs := failed(t, dests, dlq)
		require.Len(t, fbs, 1)
		bi := fbs[0].KinesisBatchInfo
		assert.Equal(t, seqs[0], bi.StartSequenceNumber)
		assert.Equal(t, seqs[0], bi.EndSequenceNumber)
		assert.Equal(t, 1, bi.BatchSize)
		assert.Equal(t, "RetryAttemptsExhausted", fbs[0].RequestContext.Condition)
		assert.Equal(t, "fn", fbs[0].RequestContext.FunctionARN)
	})

	t.Run("without bisect a failing batch is retried whole, then discarded whole", func(t *testing.T) {
		k, m, dests, dlq, seqs := newStream(6)
		var calls []call
		_, err := k.Drain(ctx, m, record(&calls, func(d string, _ int) (bool, bool) { return d == "r1", true }))
		require.NoError(t, err)
		assert.Equal(t, []call{{"r0", "r1", "r2", "r3"}, {"r0", "r1", "r2", "r3"}, {"r0", "r1", "r2", "r3"}, {"r4", "r5"}}, calls)
		fbs := failed(t, dests, dlq)
		require.Len(t, fbs, 1)
		assert.Equal(t, seqs[0], fbs[0].KinesisBatchInfo.StartSequenceNumber)
		assert.Equal(t, seqs[3], fbs[0].KinesisBatchInfo.EndSequenceNumber)
		assert.Equal(t, 3, fbs[0].RequestContext.ApproximateInvokeCount)
	})

	t.Run("an empty or unknown itemIdentifier fails the whole batch", func(t *testing.T) {
		k, m, dests, dlq, _ := newStream(2)
		var n int
		_, err := k.Drain(ctx, m, func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
			n++
			return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: ""}}}, nil
		})
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Equal(t, 1, dests.Len(dlq))
	})

	t.Run("a record older than MaxRecordAge is discarded without an invocation", func(t *testing.T) {
		k, m, dests, dlq, _ := newStream(2)
		m.MaxRecordAge = time.Hour
		k.Advance(2 * time.Hour)
		_, err := k.Drain(ctx, m, func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
			t.Fatal("invoked")
			return events.KinesisEventResponse{}, nil
		})
		require.NoError(t, err)
		fbs := failed(t, dests, dlq)
		require.Len(t, fbs, 1)
		assert.Equal(t, "RecordAgeExceeded", fbs[0].RequestContext.Condition)
		assert.Equal(t, 2, fbs[0].KinesisBatchInfo.BatchSize)
	})

	t.Run("the filter drops records", func(t *testing.T) {
		k, m, _, _, _ := newStream(0)
		for _, d := range []string{`{"eventName":"INSERT"}`, `{"eventName":"MODIFY"}`, `not json`, `{"eventName":"INSERT"}`} {
			k.Put("key", []byte(d))
		}
		pattern := map[string]any{"data": map[string]any{"eventName": []any{"INSERT"}}}
		m.Filter = func(d []byte) bool { return MatchFilter(pattern, d) }
		var calls []call
		_, err := k.Drain(ctx, m, record(&calls, func(string, int) (bool, bool) { return false, false }))
		require.NoError(t, err)
		assert.Equal(t, []call{{`{"eventName":"INSERT"}`, `{"eventName":"INSERT"}`}}, calls)
	})

	t.Run("GetShardIterator and GetRecords read a range back; Trim drops old records", func(t *testing.T) {
		k, _, _, _, seqs := newStream(5)
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{ShardId: aws.String("shardId-000000000000"),
			ShardIteratorType: ktypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seqs[2])})
		require.NoError(t, err)
		out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(2)})
		require.NoError(t, err)
		require.Len(t, out.Records, 2)
		assert.Equal(t, []byte("r2"), out.Records[0].Data)
		out, err = k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
		require.NoError(t, err)
		require.Len(t, out.Records, 1)
		assert.Equal(t, []byte("r4"), out.Records[0].Data)
		out, err = k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
		require.NoError(t, err)
		assert.Empty(t, out.Records, "at the tip")
		_, seq := k.Put("key", []byte("r5"))
		out, err = k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
		require.NoError(t, err)
		require.Len(t, out.Records, 1, "a record put after the tip iterator was made")
		assert.Equal(t, seq, aws.ToString(out.Records[0].SequenceNumber))

		k.Advance(time.Minute)
		k.Put("key", []byte("r6"))
		k.Trim(k.Now())
		it, err = k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{ShardId: aws.String("shardId-000000000000"),
			ShardIteratorType: ktypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seqs[0])})
		require.NoError(t, err)
		out, err = k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		require.NoError(t, err)
		require.Len(t, out.Records, 1)
		assert.Equal(t, []byte("r6"), out.Records[0].Data, "a trimmed start reads from the trim horizon")
	})
}
