package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	ebapi "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/tenantstream/tenantstream/events"
)

// maxPutEntries is PutEvents' limit of entries per call (and a pipe's batch
// limit for an event-bus target).
const maxPutEntries = 10

// Bus is where a Runner puts events, as the pipe's event-bus target does.
type Bus struct {
	Client *ebapi.Client
	// Name is the event bus name or ARN.
	Name string
	// PipeName makes the source "Pipe <PipeName>", as on AWS.
	PipeName string
}

// Runner does in tests and development what the EventBridge Pipe does on AWS
// (moto runs no pipes): it polls the events table's DynamoDB stream and passes
// each batch of new events on, in stream order, either to Handle in process
// (the projection engine's Handle) or to a bus. A shard's position advances
// only after its batch was delivered, so a failed batch is retried on the next
// poll: delivery is at least once, as on AWS.
type Runner struct {
	Streams *dynamodbstreams.Client
	// StreamARN is the table's LatestStreamArn.
	StreamARN string
	// Handle receives decoded events; set Handle or Bus, not both.
	Handle func(ctx context.Context, batch []events.Event) error
	Bus    *Bus
	// BatchSize caps records per GetRecords (default 100, DynamoDB's maximum 1,000).
	BatchSize int32
	Logger    *slog.Logger

	shards map[string]*shardPos
}

type shardPos struct {
	iterator string
	lastSeq  string
	closed   bool
}

// Poll reads every shard until it has no more records now, delivering each
// batch, and returns how many events were delivered.
func (r *Runner) Poll(ctx context.Context) (int, error) {
	if (r.Handle == nil) == (r.Bus == nil) {
		return 0, errors.New("poll stream: set exactly one of Handle and Bus")
	}
	if r.shards == nil {
		r.shards = map[string]*shardPos{}
	}
	shards, err := r.listShards(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, id := range shards {
		n, err := r.pollShard(ctx, id)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Run polls every interval until ctx ends; a failed poll is logged and retried.
func (r *Runner) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Poll(ctx); err != nil && ctx.Err() == nil {
			r.log().Warn("pipe runner: poll failed", "stream", r.StreamARN, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Runner) listShards(ctx context.Context) ([]string, error) {
	var ids []string
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(r.StreamARN)}
	for {
		out, err := r.Streams.DescribeStream(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe stream %s: %w", r.StreamARN, err)
		}
		// Shards come parents first, which keeps each item's records in order
		// across a shard split.
		for _, s := range out.StreamDescription.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		if out.StreamDescription.LastEvaluatedShardId == nil {
			return ids, nil
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
}

func (r *Runner) pollShard(ctx context.Context, id string) (int, error) {
	pos := r.shards[id]
	if pos == nil {
		pos = &shardPos{}
		r.shards[id] = pos
	}
	if pos.closed {
		return 0, nil
	}
	total := 0
	for {
		if pos.iterator == "" {
			in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(r.StreamARN), ShardId: aws.String(id),
				ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon}
			if pos.lastSeq != "" {
				in.ShardIteratorType, in.SequenceNumber = stypes.ShardIteratorTypeAfterSequenceNumber, aws.String(pos.lastSeq)
			}
			out, err := r.Streams.GetShardIterator(ctx, in)
			if err != nil {
				return total, fmt.Errorf("shard iterator %s: %w", id, err)
			}
			pos.iterator = aws.ToString(out.ShardIterator)
		}
		limit := r.BatchSize
		if limit <= 0 {
			limit = 100
		}
		out, err := r.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(pos.iterator), Limit: aws.Int32(limit)})
		if err != nil {
			var expired *stypes.ExpiredIteratorException
			if errors.As(err, &expired) {
				pos.iterator = ""
				continue
			}
			return total, fmt.Errorf("get records %s: %w", id, err)
		}
		if len(out.Records) > 0 {
			n, err := r.deliver(ctx, out.Records)
			if err != nil {
				// Re-read from the last delivered record on the next poll.
				pos.iterator = ""
				return total, err
			}
			total += n
			pos.lastSeq = aws.ToString(out.Records[len(out.Records)-1].Dynamodb.SequenceNumber)
		}
		if out.NextShardIterator == nil {
			pos.closed = true
			return total, nil
		}
		pos.iterator = aws.ToString(out.NextShardIterator)
		if len(out.Records) == 0 {
			return total, nil
		}
	}
}

// deliver passes on the records that are stored events; the pipe's filter
// drops the others on AWS (see docs/aws.md).
func (r *Runner) deliver(ctx context.Context, recs []stypes.Record) (int, error) {
	var batch []events.Event
	var details []string
	for _, sr := range recs {
		rec := FromStreamRecord(sr)
		ev, err := DecodeRecord(rec)
		if errors.Is(err, ErrNotEvent) {
			continue
		}
		if err != nil {
			// A malformed item can never be projected; retrying would block the
			// shard forever, so it is logged and skipped, as a pipe's dead-letter
			// queue would take it.
			r.log().Error("pipe runner: skipping a malformed record", "stream", r.StreamARN, "error", err)
			continue
		}
		batch = append(batch, ev)
		if r.Bus != nil {
			b, err := json.Marshal(rec)
			if err != nil {
				return 0, fmt.Errorf("encode record %s: %w", rec.EventID, err)
			}
			details = append(details, string(b))
		}
	}
	if len(batch) == 0 {
		return 0, nil
	}
	if r.Handle != nil {
		if err := r.Handle(ctx, batch); err != nil {
			return 0, fmt.Errorf("deliver %d events: %w", len(batch), err)
		}
		return len(batch), nil
	}
	for start := 0; start < len(details); start += maxPutEntries {
		entries := make([]ebtypes.PutEventsRequestEntry, 0, maxPutEntries)
		for _, d := range details[start:min(start+maxPutEntries, len(details))] {
			entries = append(entries, ebtypes.PutEventsRequestEntry{
				EventBusName: aws.String(r.Bus.Name), Source: aws.String(PipeSource(r.Bus.PipeName)),
				DetailType: aws.String(DetailType), Detail: aws.String(d),
			})
		}
		out, err := r.Bus.Client.PutEvents(ctx, &ebapi.PutEventsInput{Entries: entries})
		if err != nil {
			return 0, fmt.Errorf("put %d events on %s: %w", len(entries), r.Bus.Name, err)
		}
		if out.FailedEntryCount > 0 {
			// Entries put before the failure are put again on retry: the bus is
			// at least once anyway, and projections skip duplicates.
			return 0, fmt.Errorf("put events on %s: %d of %d entries failed", r.Bus.Name, out.FailedEntryCount, len(entries))
		}
	}
	return len(batch), nil
}

// FromStreamRecord converts the SDK's stream record to the JSON shape a pipe
// passes on.
func FromStreamRecord(sr stypes.Record) Record {
	rec := Record{
		EventID: aws.ToString(sr.EventID), EventName: string(sr.EventName), EventVersion: aws.ToString(sr.EventVersion),
		EventSource: aws.ToString(sr.EventSource), AWSRegion: aws.ToString(sr.AwsRegion),
	}
	if d := sr.Dynamodb; d != nil {
		if d.ApproximateCreationDateTime != nil {
			rec.DynamoDB.ApproximateCreationDateTime = float64(d.ApproximateCreationDateTime.Unix())
		}
		rec.DynamoDB.Keys = fromImage(d.Keys)
		rec.DynamoDB.NewImage = fromImage(d.NewImage)
		rec.DynamoDB.OldImage = fromImage(d.OldImage)
		rec.DynamoDB.SequenceNumber = aws.ToString(d.SequenceNumber)
		rec.DynamoDB.SizeBytes = aws.ToInt64(d.SizeBytes)
		rec.DynamoDB.StreamViewType = string(d.StreamViewType)
	}
	return rec
}

func fromImage(img map[string]stypes.AttributeValue) map[string]AttributeValue {
	if img == nil {
		return nil
	}
	out := make(map[string]AttributeValue, len(img))
	for k, v := range img {
		out[k] = fromAttr(v)
	}
	return out
}

func fromAttr(v stypes.AttributeValue) AttributeValue {
	switch v := v.(type) {
	case *stypes.AttributeValueMemberS:
		return AttributeValue{S: aws.String(v.Value)}
	case *stypes.AttributeValueMemberN:
		return AttributeValue{N: aws.String(v.Value)}
	case *stypes.AttributeValueMemberB:
		return AttributeValue{B: v.Value}
	case *stypes.AttributeValueMemberBOOL:
		return AttributeValue{BOOL: aws.Bool(v.Value)}
	case *stypes.AttributeValueMemberNULL:
		return AttributeValue{NULL: aws.Bool(v.Value)}
	case *stypes.AttributeValueMemberM:
		return AttributeValue{M: fromImage(v.Value)}
	case *stypes.AttributeValueMemberL:
		l := make([]AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = fromAttr(e)
		}
		return AttributeValue{L: l}
	case *stypes.AttributeValueMemberSS:
		return AttributeValue{SS: v.Value}
	case *stypes.AttributeValueMemberNS:
		return AttributeValue{NS: v.Value}
	case *stypes.AttributeValueMemberBS:
		return AttributeValue{BS: v.Value}
	}
	return AttributeValue{}
}
