package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	tskinesis "github.com/tenantstream/tenantstream/events/kinesis"
)

// KinesisReader is the Kinesis calls a redrive makes; *kinesis.Client is one.
type KinesisReader interface {
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// KinesisInvoker runs the projector function named by functionARN on a batch,
// synchronously, as the event source mapping does.
type KinesisInvoker func(ctx context.Context, functionARN string, e events.KinesisEvent) (events.KinesisEventResponse, error)

// LambdaInvoke is the Lambda call LambdaInvoker makes; *lambda.Client is one.
type LambdaInvoke interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaInvoker invokes the function (RequestResponse) with the batch as its
// payload and reads its partial batch response; a function error is an error.
func LambdaInvoker(c LambdaInvoke) KinesisInvoker {
	return func(ctx context.Context, fn string, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		payload, err := json.Marshal(e)
		if err != nil {
			return events.KinesisEventResponse{}, fmt.Errorf("encode batch: %w", err)
		}
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: lambdatypes.InvocationTypeRequestResponse, Payload: payload})
		if err != nil {
			return events.KinesisEventResponse{}, fmt.Errorf("invoke %s: %w", fn, err)
		}
		if out.FunctionError != nil {
			return events.KinesisEventResponse{}, fmt.Errorf("invoke %s: function error %s: %s", fn, aws.ToString(out.FunctionError), out.Payload)
		}
		var resp events.KinesisEventResponse
		if len(out.Payload) > 0 && string(out.Payload) != "null" {
			if err := json.Unmarshal(out.Payload, &resp); err != nil {
				return resp, fmt.Errorf("invoke %s: response: %w", fn, err)
			}
		}
		return resp, nil
	}
}

// ErrRangeExpired is RedriveKinesis's error when a discarded batch's records
// are no longer in the stream: its retention dropped them. Only a rebuild
// (`projections rebuild NAME`, which reads the store: decision 5 in
// docs/ARCHITECTURE.md) recovers them then.
var ErrRangeExpired = errors.New("the discarded records are no longer in the stream (retention)")

// KinesisRedriveStats counts what RedriveKinesis did.
type KinesisRedriveStats struct {
	// Batches is the on-failure records redriven and deleted; Records the
	// stream records read back and applied for them.
	Batches, Records int
}

// redriveBatchSize is the records per invocation of a redrive: the mapping's
// batch size (infra/stack, KinesisBatchSize).
const redriveBatchSize = 100

// RedriveKinesis redrives the Kinesis feed's dead-letter queue of one
// projection. Each message is a discarded batch's metadata (kinesis.FailedBatch:
// shard and sequence range, not the records), so the records are read back
// from the shard, from the start sequence number through the end one, and
// handed to the function the metadata names (requestContext.functionArn) in
// batches as the mapping would, through invoke. A message is deleted only
// once every record of its range was applied; one that fails again (an error
// or a batch item failure) stops the redrive and stays in the queue, visible
// again after o.VisibilitySeconds. The range is re-read whole, so it also
// holds records of other types and of streams already applied: the projector
// skips them (decision 4 in docs/ARCHITECTURE.md).
//
// A message that is not an on-failure record, or whose range's first record
// is gone from the shard (the error wraps ErrRangeExpired: rebuild the
// projection from the store), stays in the queue too, but the redrive goes on
// with the others and reports them at the end.
func RedriveKinesis(ctx context.Context, q RedriveSQS, k KinesisReader, invoke KinesisInvoker, dlqURL string, o RedriveOptions) (KinesisRedriveStats, error) {
	if o.VisibilitySeconds == 0 {
		o.VisibilitySeconds = 300
	}
	var st KinesisRedriveStats
	var left []error // messages left in the queue, the redrive going on
	for o.Max == 0 || st.Batches < o.Max {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), MaxNumberOfMessages: 10,
			WaitTimeSeconds: o.WaitSeconds, VisibilityTimeout: o.VisibilitySeconds})
		if err != nil {
			return st, fmt.Errorf("receive from %s: %w", dlqURL, err)
		}
		if len(out.Messages) == 0 {
			return st, errors.Join(left...)
		}
		for _, m := range out.Messages {
			if o.Max > 0 && st.Batches >= o.Max {
				return st, errors.Join(left...)
			}
			fb, err := tskinesis.ParseFailedBatch([]byte(aws.ToString(m.Body)))
			if err != nil {
				left = append(left, fmt.Errorf("message %s of %s stays in the queue: %w", aws.ToString(m.MessageId), dlqURL, err))
				continue
			}
			n, err := redriveRange(ctx, k, invoke, fb)
			st.Records += n
			if errors.Is(err, ErrRangeExpired) {
				left = append(left, fmt.Errorf("message %s (shard %s, %s to %s) stays in the queue: %w", aws.ToString(m.MessageId),
					fb.KinesisBatchInfo.ShardID, fb.KinesisBatchInfo.StartSequenceNumber, fb.KinesisBatchInfo.EndSequenceNumber, err))
				continue
			}
			if err != nil {
				return st, fmt.Errorf("message %s (shard %s, %s to %s; it stays in the dead-letter queue): %w", aws.ToString(m.MessageId),
					fb.KinesisBatchInfo.ShardID, fb.KinesisBatchInfo.StartSequenceNumber, fb.KinesisBatchInfo.EndSequenceNumber, err)
			}
			d, err := q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(dlqURL),
				Entries: []sqstypes.DeleteMessageBatchRequestEntry{{Id: aws.String("0"), ReceiptHandle: m.ReceiptHandle}}})
			if err != nil {
				return st, fmt.Errorf("delete message %s from %s (its records were applied; a second redrive applies nothing): %w", aws.ToString(m.MessageId), dlqURL, err)
			}
			if len(d.Failed) > 0 {
				return st, fmt.Errorf("delete message %s from %s: %s (its records were applied; a second redrive applies nothing)", aws.ToString(m.MessageId), dlqURL, aws.ToString(d.Failed[0].Message))
			}
			st.Batches++
		}
	}
	return st, errors.Join(left...)
}

// redriveRange reads fb's range from its shard and applies it; it returns
// how many records were applied.
func redriveRange(ctx context.Context, k KinesisReader, invoke KinesisInvoker, fb tskinesis.FailedBatch) (int, error) {
	bi := fb.KinesisBatchInfo
	start, _ := tskinesis.ParseSequence(bi.StartSequenceNumber)
	end, _ := tskinesis.ParseSequence(bi.EndSequenceNumber)
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamARN: aws.String(bi.StreamARN), ShardId: aws.String(bi.ShardID),
		ShardIteratorType: ktypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(bi.StartSequenceNumber)})
	if err != nil {
		return 0, fmt.Errorf("shard iterator: %w", err)
	}
	iter := it.ShardIterator
	applied, first, done := 0, true, false
	var batch []events.KinesisEventRecord
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		resp, err := invoke(ctx, fb.RequestContext.FunctionARN, events.KinesisEvent{Records: batch})
		if err != nil {
			return fmt.Errorf("the projector failed again: %w", err)
		}
		if len(resp.BatchItemFailures) > 0 {
			return fmt.Errorf("the projector failed again at sequence number %s", resp.BatchItemFailures[0].ItemIdentifier)
		}
		applied += len(batch)
		batch = batch[:0]
		return nil
	}
	for !done {
		if iter == nil {
			return applied, fmt.Errorf("the shard ended before sequence number %s", bi.EndSequenceNumber)
		}
		out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, StreamARN: aws.String(bi.StreamARN)})
		if err != nil {
			return applied, fmt.Errorf("get records: %w", err)
		}
		for _, r := range out.Records {
			seq, ok := tskinesis.ParseSequence(aws.ToString(r.SequenceNumber))
			if !ok {
				return applied, fmt.Errorf("record sequence number %q", aws.ToString(r.SequenceNumber))
			}
			if first && seq.Cmp(start) != 0 {
				// AT_SEQUENCE_NUMBER of a trimmed record starts later (or fails).
				return applied, fmt.Errorf("%w: the shard starts at %s: run `tenantstream projections rebuild`", ErrRangeExpired, aws.ToString(r.SequenceNumber))
			}
			first = false
			if seq.Cmp(end) > 0 {
				done = true
				break
			}
			batch = append(batch, events.KinesisEventRecord{AwsRegion: regionOf(bi.StreamARN), EventID: bi.ShardID + ":" + aws.ToString(r.SequenceNumber),
				EventName: "aws:kinesis:record", EventSource: tskinesis.EventSource, EventSourceArn: bi.StreamARN, EventVersion: "1.0",
				Kinesis: events.KinesisRecord{ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp)},
					Data: r.Data, PartitionKey: aws.ToString(r.PartitionKey), SequenceNumber: aws.ToString(r.SequenceNumber), KinesisSchemaVersion: "1.0"}})
			if len(batch) == redriveBatchSize {
				if err := flush(); err != nil {
					return applied, err
				}
			}
			if seq.Cmp(end) == 0 {
				done = true
				break
			}
		}
		if !done && len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			if first {
				return applied, fmt.Errorf("%w: nothing at or after %s in shard %s: run `tenantstream projections rebuild`", ErrRangeExpired, bi.StartSequenceNumber, bi.ShardID)
			}
			return applied, fmt.Errorf("the shard holds nothing after %d records, before sequence number %s", applied+len(batch), bi.EndSequenceNumber)
		}
		iter = out.NextShardIterator
	}
	if err := flush(); err != nil {
		return applied, err
	}
	return applied, nil
}

// regionOf is the region of an ARN (arn:aws:kinesis:<region>:...).
func regionOf(arn string) string {
	if parts := strings.SplitN(arn, ":", 5); len(parts) == 5 {
		return parts[3]
	}
	return ""
}
