package awstest

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	tskinesis "github.com/tenantstream/tenantstream/events/kinesis"
)

// Kinesis plays a Kinesis data stream and the Lambda event source mapping
// that reads it, on a logical clock, as SQS plays queues: moto keeps streams
// (PutRecord, GetRecords) but runs no event source mappings. These are the
// semantics the Kinesis feed's projectors rely on (docs/aws.md, "The Kinesis
// feed"; AWS docs: "Using Lambda with Kinesis", "Configuring partial batch
// response with Kinesis Data Streams and Lambda", "Retain discarded batch
// records for a Kinesis Data Streams event source in Lambda"):
//
//   - A record goes to the shard its partition key hashes to (MD5, as
//     Kinesis does) and keeps its place: a shard is read in put order. Order
//     across shards means nothing. Duplicate is the chance that a put is
//     stored twice, as a producer's retry (and DynamoDB's destination) may.
//   - Drain is the event source mapping. Per shard it reads a batch from its
//     checkpoint (records the filter rejects are dropped) and invokes the
//     function. Success moves the checkpoint past the batch. A response
//     naming sequence numbers (ReportBatchItemFailures) moves it to the lowest
//     one named, and the next batch starts there. A function error, or a
//     response naming an empty or unknown itemIdentifier, fails the whole
//     batch: with BisectOnError a batch of more than one record is split and
//     its first half retried, which uses no retry; otherwise it is retried as
//     it is.
//   - A failure that makes no progress counts one retry of the record at the
//     checkpoint (an approximation: AWS does not document how partial
//     responses count). After MaxRetryAttempts retries, or once the record is
//     older than MaxRecordAge when a batch would be invoked, the batch is
//     discarded: the on-failure destination receives its metadata (shard and
//     sequence range, not the records) and the checkpoint moves past it.
//   - Each retry moves the clock by RetryDelay; Trim drops records older than
//     a time, as the stream's retention does.
//
// The same value answers GetShardIterator and GetRecords, so a redrive can
// read a shard range back. It is safe for concurrent use.
type Kinesis struct {
	// StreamARN names the stream in records and metadata.
	StreamARN string
	// Shards is the shard count, fixed at the first Put (default 2).
	Shards int
	// Duplicate is the chance that a put is stored twice.
	Duplicate float64
	// Rand draws duplicates; nil: a fixed seed.
	Rand *rand.Rand

	mu     sync.Mutex
	now    time.Time
	seq    int64
	shards []*fakeShard
}

type fakeShard struct {
	id   string
	recs []kinesisRecord
}

type kinesisRecord struct {
	seq, pk string
	data    []byte
	arrival time.Time
}

// KinesisMapping is an event source mapping of a Kinesis fake: its settings
// and its checkpoints.
type KinesisMapping struct {
	BatchSize int
	// MaxRetryAttempts: -1 retries until the record is too old.
	MaxRetryAttempts int
	// MaxRecordAge: 0 means no limit.
	MaxRecordAge  time.Duration
	BisectOnError bool
	// Filter keeps a record's data (the mapping's filter criteria); nil keeps all.
	Filter func(data []byte) bool
	// FunctionARN is the metadata's requestContext.functionArn.
	FunctionARN string
	// OnFailure receives discarded batches' metadata (required).
	OnFailure      *SQS
	OnFailureQueue *FakeQueue
	// RetryDelay is how far the clock moves per retry (default 1 s).
	RetryDelay time.Duration

	shards map[string]*mappingShard
}

type mappingShard struct {
	pos, retries, limit, invokes int
}

func (k *Kinesis) init() {
	if k.shards != nil {
		return
	}
	if k.Shards <= 0 {
		k.Shards = 2
	}
	if k.StreamARN == "" {
		k.StreamARN = "arn:aws:kinesis:us-east-1:111122223333:stream/events"
	}
	if k.Rand == nil {
		k.Rand = rand.New(rand.NewSource(1))
	}
	k.now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range k.Shards {
		k.shards = append(k.shards, &fakeShard{id: fmt.Sprintf("shardId-%012d", i)})
	}
}

// shardFor hashes a partition key to a shard as Kinesis does: MD5 as a
// 128-bit integer, the hash key range split evenly.
func (k *Kinesis) shardFor(pk string) *fakeShard {
	sum := md5.Sum([]byte(pk))
	h := new(big.Int).SetBytes(sum[:])
	width := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(int64(k.Shards)))
	i := int(new(big.Int).Div(h, width).Int64())
	return k.shards[min(i, k.Shards-1)]
}

// Put appends data under partitionKey and returns its shard and sequence number.
func (k *Kinesis) Put(partitionKey string, data []byte) (shardID, seq string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	s := k.shardFor(partitionKey)
	n := 1
	if k.Duplicate > 0 && k.Rand.Float64() < k.Duplicate {
		n = 2
	}
	for range n {
		k.seq++
		seq = fmt.Sprintf("4966%052d", k.seq)
		s.recs = append(s.recs, kinesisRecord{seq: seq, pk: partitionKey, data: slices.Clone(data), arrival: k.now})
	}
	return s.id, seq
}

// Advance moves the logical clock.
func (k *Kinesis) Advance(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	k.now = k.now.Add(d)
}

// Trim drops the records that arrived before t, as retention does.
func (k *Kinesis) Trim(t time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	for _, s := range k.shards {
		s.recs = slices.DeleteFunc(s.recs, func(r kinesisRecord) bool { return r.arrival.Before(t) })
	}
}

// Now is the logical clock.
func (k *Kinesis) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	return k.now
}

// Drain runs the mapping over every shard until each checkpoint is at the
// shard's end, one batch per shard in turn (Lambda reads shards in
// parallel). It stops after 10,000 invocations (an error) so a test cannot spin.
func (k *Kinesis) Drain(ctx context.Context, m *KinesisMapping, fn func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error)) (ESMStats, error) {
	const maxInvocations = 10_000
	if m.OnFailure == nil || m.OnFailureQueue == nil {
		return ESMStats{}, errors.New("awstest.Kinesis: the mapping needs an on-failure destination")
	}
	if m.BatchSize <= 0 {
		m.BatchSize = 100
	}
	if m.RetryDelay <= 0 {
		m.RetryDelay = time.Second
	}
	var st ESMStats
	for st.Invocations < maxInvocations {
		k.mu.Lock()
		k.init()
		shards := slices.Clone(k.shards)
		k.mu.Unlock()
		progressed := false
		for _, s := range shards {
			done, err := k.step(ctx, m, s, fn, &st)
			if err != nil {
				return st, err
			}
			progressed = progressed || !done
		}
		if !progressed {
			return st, nil
		}
	}
	return st, errors.New("awstest.Kinesis: the stream did not drain")
}

// step invokes (or discards) one batch of shard s; done means s is drained.
func (k *Kinesis) step(ctx context.Context, m *KinesisMapping, s *fakeShard, fn func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error), st *ESMStats) (bool, error) {
	k.mu.Lock()
	if m.shards == nil {
		m.shards = map[string]*mappingShard{}
	}
	ms := m.shards[s.id]
	if ms == nil {
		ms = &mappingShard{limit: m.BatchSize}
		m.shards[s.id] = ms
	}
	// The batch: matching records from the checkpoint, up to the limit.
	var batch []kinesisRecord
	end := ms.pos
	for i := ms.pos; i < len(s.recs) && len(batch) < ms.limit; i++ {
		end = i + 1
		if m.Filter == nil || m.Filter(s.recs[i].data) {
			batch = append(batch, s.recs[i])
		} else if len(batch) == 0 {
			ms.pos = i + 1 // dropped by the filter
		}
	}
	if len(batch) == 0 {
		ms.pos = max(ms.pos, end)
		k.mu.Unlock()
		return true, nil
	}
	if m.MaxRecordAge > 0 && k.now.Sub(batch[0].arrival) > m.MaxRecordAge {
		k.discard(m, ms, s, batch, end, "RecordAgeExceeded")
		k.mu.Unlock()
		return false, nil
	}
	ev := events.KinesisEvent{}
	for _, r := range batch {
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			AwsRegion: "us-east-1", EventID: s.id + ":" + r.seq, EventName: "aws:kinesis:record", EventSource: "aws:kinesis",
			EventSourceArn: k.StreamARN, EventVersion: "1.0", InvokeIdentityArn: "arn:aws:iam::111122223333:role/projector",
			Kinesis: events.KinesisRecord{ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: r.arrival}, Data: slices.Clone(r.data),
				PartitionKey: r.pk, SequenceNumber: r.seq, KinesisSchemaVersion: "1.0"},
		})
	}
	ms.invokes++
	k.mu.Unlock()

	st.Invocations++
	st.Records += len(batch)
	resp, err := fn(ctx, ev)
	failedAt := -1 // index in batch of the lowest failed record
	if err == nil {
		for _, f := range resp.BatchItemFailures {
			i := slices.IndexFunc(batch, func(r kinesisRecord) bool { return r.seq == f.ItemIdentifier })
			if i < 0 {
				err = fmt.Errorf("batchItemFailures names %q, not a record of the batch", f.ItemIdentifier)
				break
			}
			if failedAt < 0 || i < failedAt {
				failedAt = i
			}
		}
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case err == nil && failedAt < 0: // success: checkpoint past the batch
		ms.pos, ms.retries, ms.limit, ms.invokes = end, 0, m.BatchSize, 0
		return false, nil
	case err != nil && m.BisectOnError && len(batch) > 1: // split, no retry used
		st.Failed += len(batch)
		ms.limit = len(batch) / 2
		return false, nil
	case err != nil:
		st.Failed += len(batch)
	default: // partial: checkpoint at the lowest failed record
		st.Failed += len(batch) - failedAt
		if failedAt > 0 {
			ms.pos = slices.IndexFunc(s.recs, func(r kinesisRecord) bool { return r.seq == batch[failedAt].seq })
			ms.retries, ms.limit, ms.invokes = 0, m.BatchSize, 0
			return false, nil
		}
	}
	ms.retries++
	k.now = k.now.Add(m.RetryDelay)
	if m.MaxRetryAttempts >= 0 && ms.retries > m.MaxRetryAttempts {
		k.discard(m, ms, s, batch[max(failedAt, 0):], end, "RetryAttemptsExhausted")
	}
	return false, nil
}

// discard sends the batch's metadata to the on-failure destination and moves
// the checkpoint past it. k.mu is held.
func (k *Kinesis) discard(m *KinesisMapping, ms *mappingShard, s *fakeShard, batch []kinesisRecord, end int, condition string) {
	var fb tskinesis.FailedBatch
	fb.RequestContext.RequestID = fmt.Sprintf("req-%d", k.seq)
	fb.RequestContext.FunctionARN = m.FunctionARN
	fb.RequestContext.Condition = condition
	fb.RequestContext.ApproximateInvokeCount = ms.invokes
	fb.Version, fb.Timestamp = "1.0", k.now.Format(time.RFC3339Nano)
	bi := &fb.KinesisBatchInfo
	bi.ShardID, bi.StreamARN, bi.BatchSize = s.id, k.StreamARN, len(batch)
	bi.StartSequenceNumber, bi.EndSequenceNumber = batch[0].seq, batch[len(batch)-1].seq
	bi.ApproximateArrivalOfFirstRecord = batch[0].arrival.Format(time.RFC3339Nano)
	bi.ApproximateArrivalOfLastRecord = batch[len(batch)-1].arrival.Format(time.RFC3339Nano)
	body, _ := json.Marshal(fb)
	m.OnFailure.Send(m.OnFailureQueue, string(body))
	ms.pos, ms.retries, ms.limit, ms.invokes = end, 0, m.BatchSize, 0
}

// The Kinesis API subset of a redrive. Shard iterators are "<shard>|<index>".

func (k *Kinesis) shard(id string) (*fakeShard, error) {
	for _, s := range k.shards {
		if s.id == id {
			return s, nil
		}
	}
	return nil, &ktypes.ResourceNotFoundException{Message: aws.String("no shard " + id)}
}

// GetShardIterator answers TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER and
// AFTER_SEQUENCE_NUMBER. A sequence number no longer held (trimmed) starts
// at the trim horizon.
func (k *Kinesis) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	if arn := aws.ToString(in.StreamARN); arn != "" && arn != k.StreamARN {
		return nil, &ktypes.ResourceNotFoundException{Message: aws.String("no stream " + arn)}
	}
	s, err := k.shard(aws.ToString(in.ShardId))
	if err != nil {
		return nil, err
	}
	at := func(seq string, after bool) int {
		want, _ := new(big.Int).SetString(seq, 10)
		for i, r := range s.recs {
			got, _ := new(big.Int).SetString(r.seq, 10)
			if c := got.Cmp(want); c > 0 || (c == 0 && !after) {
				return i
			}
		}
		return len(s.recs)
	}
	var i int
	switch in.ShardIteratorType {
	case ktypes.ShardIteratorTypeTrimHorizon:
	case ktypes.ShardIteratorTypeLatest:
		i = len(s.recs)
	case ktypes.ShardIteratorTypeAtSequenceNumber:
		i = at(aws.ToString(in.StartingSequenceNumber), false)
	case ktypes.ShardIteratorTypeAfterSequenceNumber:
		i = at(aws.ToString(in.StartingSequenceNumber), true)
	default:
		return nil, &ktypes.InvalidArgumentException{Message: aws.String("unsupported iterator type " + string(in.ShardIteratorType))}
	}
	// The iterator names a sequence number, not an index, so a trim does not shift it.
	next := ""
	if i < len(s.recs) {
		next = s.recs[i].seq
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(s.id + "|" + next + "|" + strconv.FormatInt(k.seq, 10))}, nil
}

// GetRecords returns up to Limit records (default 10,000) from the iterator.
func (k *Kinesis) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	parts := strings.Split(aws.ToString(in.ShardIterator), "|")
	if len(parts) != 3 {
		return nil, &ktypes.InvalidArgumentException{Message: aws.String("bad shard iterator")}
	}
	s, err := k.shard(parts[0])
	if err != nil {
		return nil, err
	}
	// An empty position is the end as it was when the iterator was made:
	// records put since then come after it.
	i := len(s.recs)
	if parts[1] != "" {
		want, _ := new(big.Int).SetString(parts[1], 10)
		i = slices.IndexFunc(s.recs, func(r kinesisRecord) bool {
			got, _ := new(big.Int).SetString(r.seq, 10)
			return got.Cmp(want) >= 0
		})
		if i < 0 {
			i = len(s.recs)
		}
	} else if madeAt, _ := strconv.ParseInt(parts[2], 10, 64); madeAt < k.seq {
		i = slices.IndexFunc(s.recs, func(r kinesisRecord) bool {
			n, _ := strconv.ParseInt(strings.TrimPrefix(r.seq, "4966"), 10, 64)
			return n > madeAt
		})
		if i < 0 {
			i = len(s.recs)
		}
	}
	limit := int(aws.ToInt32(in.Limit))
	if limit <= 0 {
		limit = 10_000
	}
	out := &kinesis.GetRecordsOutput{MillisBehindLatest: aws.Int64(0)}
	j := min(i+limit, len(s.recs))
	for _, r := range s.recs[i:j] {
		out.Records = append(out.Records, ktypes.Record{SequenceNumber: aws.String(r.seq), Data: slices.Clone(r.data),
			PartitionKey: aws.String(r.pk), ApproximateArrivalTimestamp: aws.Time(r.arrival)})
	}
	next := ""
	if j < len(s.recs) {
		next = s.recs[j].seq
	}
	out.NextShardIterator = aws.String(s.id + "|" + next + "|" + strconv.FormatInt(k.seq, 10))
	return out, nil
}

// MatchFilter reports whether a Kinesis record's data matches a filter
// criteria pattern (Lambda event filtering) made only of nested objects and
// lists of exact string values, the form kinesis.FilterPattern uses: the data
// is decoded as JSON and matched against pattern["data"]. Data that is not a
// JSON object matches no "data" pattern.
func MatchFilter(pattern map[string]any, data []byte) bool {
	p, ok := pattern["data"]
	if !ok {
		return true
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return false
	}
	return matchValue(p, doc)
}

func matchValue(pattern, doc any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		d, ok := doc.(map[string]any)
		if !ok {
			return false
		}
		for k, sub := range p {
			if !matchValue(sub, d[k]) {
				return false
			}
		}
		return true
	case []any:
		for _, want := range p {
			if want == doc {
				return true
			}
		}
		return false
	}
	return false
}
