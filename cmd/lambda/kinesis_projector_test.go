package lambda_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/cmd/lambda/internal/rie"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/kinesis"
)

// The built projector as the Kinesis feed deploys it (TENANTSTREAM_FEED=kinesis)
// behind the Runtime Interface Emulator: it takes Lambda's Kinesis batch (base64
// data) and answers as the mapping expects: no failures when every record
// applied, a partial response naming the failed record after applied ones, a
// function error when the first record fails (so bisecting can isolate it).
func TestKinesisProjectorBinary(t *testing.T) {
	emulator := rie.Emulator(t)
	fn := rie.Start(t, "projector-kinesis", emulator, rie.Build(t, "./projector"), "AWS_LAMBDA_FUNCTION_NAME=projector-items",
		"TENANTSTREAM_FEED=kinesis", "TENANTSTREAM_PROJECTION=items", "TENANTSTREAM_STORE=memory",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	seq := 0
	record := func(data []byte) events.KinesisEventRecord {
		seq++
		s := fmt.Sprintf("4966%052d", seq)
		return events.KinesisEventRecord{EventSource: kinesis.EventSource, EventName: "aws:kinesis:record", EventID: "shardId-000000000000:" + s,
			EventSourceArn: "arn:aws:kinesis:us-east-1:111122223333:stream/tenantstream-events", AwsRegion: "us-east-1", EventVersion: "1.0",
			Kinesis: events.KinesisRecord{Data: data, PartitionKey: "k", SequenceNumber: s, KinesisSchemaVersion: "1.0"}}
	}
	put := func(item string) events.KinesisEventRecord {
		ev := evs.Event{ID: "ev-" + item, TenantID: "acme", StreamID: evs.StreamID("item-" + item), StreamType: "item", Version: 1, Type: "item.put",
			SchemaVersion: 1, OccurredAt: time.Now().UTC(), RecordedAt: time.Now().UTC(), Data: json.RawMessage(`{"item_id":"` + item + `","v":1}`)}
		data, err := kinesis.ChangeRecord(ev, "tenantstream-events", "us-east-1")
		require.NoError(t, err)
		return record(data)
	}
	bad := func() events.KinesisEventRecord {
		return record([]byte(`{"recordFormat":"application/json","eventSource":"aws:dynamodb","eventName":"INSERT","dynamodb":{}}`))
	}

	var resp events.KinesisEventResponse
	fn.Invoke(t, events.KinesisEvent{Records: []events.KinesisEventRecord{put("a"), put("b")}}, &resp)
	assert.Empty(t, resp.BatchItemFailures)

	failing := bad()
	fn.Invoke(t, events.KinesisEvent{Records: []events.KinesisEventRecord{put("c"), failing, put("d")}}, &resp)
	assert.Equal(t, []events.KinesisBatchItemFailure{{ItemIdentifier: failing.Kinesis.SequenceNumber}}, resp.BatchItemFailures)

	_, err := fn.InvokeRaw(events.KinesisEvent{Records: []events.KinesisEventRecord{bad(), put("e")}})
	require.ErrorContains(t, err, "the first record of the batch failed")
}
