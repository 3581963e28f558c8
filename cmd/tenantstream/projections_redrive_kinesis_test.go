package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/eventbridge"
	tskinesis "github.com/tenantstream/tenantstream/events/kinesis"
)

// `projections redrive --feed kinesis` on moto's Kinesis and SQS: the dry run
// counts the on-failure records; the redrive reads each range back from the
// real shard (AT_SEQUENCE_NUMBER start through end, nothing outside it) and
// invokes the function the record names with those records, then deletes the
// message; a range no longer in the stream is ErrRangeExpired and its message
// stays. moto invokes no Lambda functions, so the invoker is the test's.
func TestProjectionsRedriveKinesisOnMoto(t *testing.T) {
	moto := newDDBFixture(t).moto
	ctx := t.Context()
	cfg := moto.Config()
	q, k := sqs.NewFromConfig(cfg), kinesis.NewFromConfig(cfg)
	prefix := fmt.Sprintf("rk%d", time.Now().UnixNano())
	name := prefix + "-events"
	_, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)})
	require.NoError(t, err)
	desc, err := k.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)})
	require.NoError(t, err)
	arn, shard := aws.ToString(desc.StreamDescription.StreamARN), aws.ToString(desc.StreamDescription.Shards[0].ShardId)

	var seqs []string
	var ids []string
	for v := int64(1); v <= 6; v++ {
		ev := evs.Event{ID: fmt.Sprintf("ev-%d", v), TenantID: "acme", StreamID: "item-x", StreamType: "item", Version: v, Type: "item.put",
			SchemaVersion: 1, OccurredAt: time.Now().UTC(), RecordedAt: time.Now().UTC(), Data: json.RawMessage(`{"v":1}`)}
		data, err := tskinesis.ChangeRecord(ev, "events", "us-east-1")
		require.NoError(t, err)
		out, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(tskinesis.PartitionKey(ev)), Data: data})
		require.NoError(t, err)
		seqs, ids = append(seqs, aws.ToString(out.SequenceNumber)), append(ids, ev.ID)
	}
	dlqOut, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(eventbridge.ProjectionDLQName(prefix, "items"))})
	require.NoError(t, err)
	dlq := aws.ToString(dlqOut.QueueUrl)
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:projector-items"
	failed := func(start, end string) string {
		var fb tskinesis.FailedBatch
		fb.RequestContext.FunctionARN, fb.RequestContext.Condition = fn, "RetryAttemptsExhausted"
		fb.Version = "1.0"
		fb.KinesisBatchInfo = tskinesis.BatchInfo{ShardID: shard, StartSequenceNumber: start, EndSequenceNumber: end, BatchSize: 1, StreamARN: arn}
		b, err := json.Marshal(fb)
		require.NoError(t, err)
		return string(b)
	}
	for _, r := range [][2]string{{seqs[1], seqs[2]}, {seqs[4], seqs[4]}} {
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(failed(r[0], r[1]))})
		require.NoError(t, err)
	}

	flags := []string{"--backend", "dynamodb", "--region", "us-east-1", "--endpoint-url", moto.Endpoint, "--prefix", prefix, "--feed", "kinesis"}
	out, _, err := runCLI(t, append([]string{"projections", "redrive", "items", "--dry-run"}, flags...)...)
	require.NoError(t, err)
	assert.Equal(t, "items: 2 discarded batches in the dead-letter queue (0 in flight); dry run, nothing redriven\n", out)

	var applied []string
	invoke := func(_ context.Context, arn string, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		require.Equal(t, fn, arn)
		for _, r := range e.Records {
			ev, err := tskinesis.DecodeEventRecord(r)
			require.NoError(t, err)
			applied = append(applied, ev.ID)
		}
		return events.KinesisEventResponse{}, nil
	}
	cmd := &cobra.Command{}
	var buf bytes.Buffer
	cmd.SetOut(&buf)
	cmd.SetContext(ctx)
	require.NoError(t, redriveKinesis(cmd, q, k, invoke, prefix, []string{"items"}, false, 0))
	assert.Equal(t, "items: redrove 2 discarded batches (3 records read back from the stream)\n", buf.String())
	assert.ElementsMatch(t, []string{ids[1], ids[2], ids[4]}, applied, "exactly the two ranges")

	// A range whose first record is gone (a sequence number the shard never held
	// stands in for one the retention dropped) stays in the queue.
	first, ok := tskinesis.ParseSequence(seqs[0])
	require.True(t, ok)
	gone := first.Sub(first, big.NewInt(1)).String()
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(failed(gone, seqs[0]))})
	require.NoError(t, err)
	buf.Reset()
	err = redriveKinesis(cmd, q, k, invoke, prefix, []string{"items"}, false, 0)
	require.ErrorContains(t, err, "no longer in the stream")
	require.ErrorContains(t, err, "projections rebuild --backend dynamodb items")
}
