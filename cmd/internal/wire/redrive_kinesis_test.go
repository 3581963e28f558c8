package wire

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/kinesis"
	"github.com/tenantstream/tenantstream/handlers/awstest"
)

// RedriveKinesis against what a dead-letter queue may really hold: messages
// that are no on-failure records (malformed, huge, a bus event from the other
// feed), a range the retention dropped, and good ranges. The good ones are
// applied and deleted, the others stay and are reported, and a range that
// fails again stops the redrive with its message kept.
func TestRedriveKinesisLeavesWhatItCannotRedrive(t *testing.T) {
	ctx := context.Background()
	stream := &awstest.Kinesis{Shards: 1}
	put := func(v int64) (string, string) {
		ev := evs.Event{ID: "ev-" + string(rune('a'+v)), TenantID: "acme", StreamID: "item-x", StreamType: "item", Version: v, Type: "item.put",
			SchemaVersion: 1, OccurredAt: time.Now().UTC(), RecordedAt: time.Now().UTC(), Data: json.RawMessage(`{}`)}
		data, err := kinesis.ChangeRecord(ev, "events", "us-east-1")
		require.NoError(t, err)
		_, seq := stream.Put(kinesis.PartitionKey(ev), data)
		return ev.ID, seq
	}
	oldID, oldSeq := put(1)
	stream.Advance(8 * 24 * time.Hour)
	id2, seq2 := put(2)
	id3, seq3 := put(3)
	stream.Trim(stream.Now().Add(-7 * 24 * time.Hour)) // the retention drops version 1

	dests := &awstest.SQS{}
	dlq := dests.AddQueue("ts-projection-items-dlq", 0, nil, 0)
	failed := func(start, end string) string {
		var fb kinesis.FailedBatch
		fb.RequestContext.FunctionARN = "fn"
		fb.KinesisBatchInfo = kinesis.BatchInfo{ShardID: "shardId-000000000000", StartSequenceNumber: start, EndSequenceNumber: end,
			StreamARN: stream.StreamARN, BatchSize: 1}
		b, err := json.Marshal(fb)
		require.NoError(t, err)
		return string(b)
	}
	for _, body := range []string{
		"not json",
		strings.Repeat("{", 200_000),
		`{"version":"0","detail-type":"Event from aws:dynamodb","detail":{}}`,
		failed(oldSeq, oldSeq),
		failed(seq2, seq3),
	} {
		dests.Send(dlq, body)
	}
	var applied []string
	invoke := func(_ context.Context, _ string, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		for _, r := range e.Records {
			ev, err := kinesis.DecodeEventRecord(r)
			require.NoError(t, err)
			applied = append(applied, ev.ID)
		}
		return events.KinesisEventResponse{}, nil
	}
	st, err := RedriveKinesis(ctx, dests, stream, invoke, dlq.URL(), RedriveOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrRangeExpired)
	assert.Equal(t, 4, strings.Count(err.Error(), "stays in the queue"), "three malformed messages and the expired range: %v", err)
	assert.Equal(t, KinesisRedriveStats{Batches: 1, Records: 2}, st)
	assert.Equal(t, []string{id2, id3}, applied)
	assert.NotContains(t, applied, oldID)
	assert.Equal(t, 4, dests.Len(dlq), "what could not be redriven stays")

	// A range that fails again stops the redrive and stays.
	dests.Send(dlq, failed(seq2, seq2))
	dests.Advance(time.Hour)
	boom := func(context.Context, string, events.KinesisEvent) (events.KinesisEventResponse, error) {
		return events.KinesisEventResponse{}, errors.New("still down")
	}
	_, err = RedriveKinesis(ctx, dests, stream, boom, dlq.URL(), RedriveOptions{})
	require.ErrorContains(t, err, "still down")
	assert.Equal(t, 5, dests.Len(dlq))
}
