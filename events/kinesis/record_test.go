package kinesis_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/kinesis"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixtureEvent is the event both fixtures carry (the same as the pipe's
// fixture in events/eventbridge).
var fixtureEvent = events.Event{
	ID: "0195a3c2-7e1f-7b2a-9c3d-4e5f6a7b8c9d", TenantID: "acme", StreamID: "item-report.pdf", StreamType: "item",
	Version: 2, Type: "item.put", SchemaVersion: 1,
	OccurredAt:    time.Date(2026, 3, 1, 10, 15, 30, 120000000, time.UTC),
	RecordedAt:    time.Date(2026, 3, 1, 10, 15, 30, 123456000, time.UTC),
	CorrelationID: "req-42", Actor: "user:u-1",
	Data: json.RawMessage(`{"item_id":"report.pdf","size":1024}`),
}

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// TestDecodeLambdaEvent: the event source mapping's batch as Lambda sends it,
// base64 data and all, decodes to the stored event.
func TestDecodeLambdaEvent(t *testing.T) {
	t.Parallel()
	var e lambdaevents.KinesisEvent
	require.NoError(t, json.Unmarshal(read(t, "kinesis-event.json"), &e))
	require.Len(t, e.Records, 1)
	ev, err := kinesis.DecodeEventRecord(e.Records[0])
	require.NoError(t, err)
	assert.Equal(t, fixtureEvent, ev)

	// The data is the readable fixture, compacted.
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, read(t, "change-record.json")))
	assert.Equal(t, compact.String(), string(e.Records[0].Kinesis.Data))
}

// TestChangeRecordGolden pins what tests and fakes put on a stream: the
// documented change record of the item events/dynamodb stores.
func TestChangeRecordGolden(t *testing.T) {
	t.Parallel()
	got, err := kinesis.ChangeRecord(fixtureEvent, "tenantstream-events", "eu-west-1")
	require.NoError(t, err)
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, got, "", "  "))
	pretty.WriteByte('\n')
	const golden = "testdata/change-record.golden.json"
	if *update {
		require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
	}
	assert.Equal(t, string(read(t, "change-record.golden.json")), pretty.String())
	ev, err := kinesis.Decode(got)
	require.NoError(t, err)
	assert.Equal(t, fixtureEvent, ev, "what ChangeRecord writes, Decode reads back")
}

// TestDecodeRejects edits the readable fixture one way at a time.
func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, old, new string
		notEvent       bool
		message        string
	}{
		{"modify", `"eventName": "INSERT"`, `"eventName": "MODIFY"`, true, "MODIFY"},
		{"remove", `"eventName": "INSERT"`, `"eventName": "REMOVE"`, true, "REMOVE"},
		{"idempotency record", `"kind": {"S": "event"}`, `"kind": {"S": "idempotency"}`, true, "idempotency"},
		{"other source", `"eventSource": "aws:dynamodb"`, `"eventSource": "aws:kinesis"`, false, "event source"},
		{"other format", `"recordFormat": "application/json"`, `"recordFormat": "ion"`, false, "record format"},
		{"image key of another tenant", `"NewImage": {
      "PK": {"S": "T#acme#S#item-report.pdf"}`, `"NewImage": {
      "PK": {"S": "T#evil#S#item-report.pdf"}`, false, "does not match"},
		{"record key of another tenant", `"Keys": {
      "PK": {"S": "T#acme#S#item-report.pdf"}`, `"Keys": {
      "PK": {"S": "T#evil#S#item-report.pdf"}`, false, "Keys do not name"},
		{"record key of another version", `"Keys": {
      "PK": {"S": "T#acme#S#item-report.pdf"},
      "SK": {"N": "2"}`, `"Keys": {
      "PK": {"S": "T#acme#S#item-report.pdf"},
      "SK": {"N": "3"}`, false, "Keys do not name"},
		{"bad tenant", `"tenant_id": {"S": "acme"}`, `"tenant_id": {"S": "a#b"}`, false, "tenant id"},
		{"data not an object", `"data": {"S": "{\"item_id\":\"report.pdf\",\"size\":1024}"}`, `"data": {"S": "[1]"}`, false, "JSON object"},
		{"no new image", `"NewImage"`, `"Other"`, false, "NewImage"},
		{"not JSON", `{`, `[`, false, "decode change record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := string(read(t, "change-record.json"))
			require.Contains(t, raw, tt.old)
			_, err := kinesis.Decode([]byte(strings.Replace(raw, tt.old, tt.new, 1)))
			require.Error(t, err)
			assert.Equal(t, tt.notEvent, kinesis.IsNotEvent(err), err.Error())
			assert.Contains(t, err.Error(), tt.message)
		})
	}
}

func TestDecodeEventRecordChecksTheSource(t *testing.T) {
	t.Parallel()
	_, err := kinesis.DecodeEventRecord(lambdaevents.KinesisEventRecord{EventSource: "aws:sqs", Kinesis: lambdaevents.KinesisRecord{Data: read(t, "change-record.json")}})
	require.ErrorContains(t, err, "event source")
}

// FuzzDecode: any data either fails cleanly or yields an event whose ids are
// valid (they scope read-model keys), whose key agrees with them, and whose
// payload is a JSON object.
func FuzzDecode(f *testing.F) {
	f.Add(read(f, "change-record.json"))
	f.Add([]byte(`{"recordFormat":"application/json","eventSource":"aws:dynamodb","eventName":"INSERT","dynamodb":{"NewImage":{"kind":{"S":"event"}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := kinesis.Decode(raw)
		if err != nil {
			return
		}
		require.NoError(t, ev.TenantID.Validate())
		require.NoError(t, ev.StreamID.Validate())
		require.Positive(t, ev.Version)
		require.NotEmpty(t, ev.ID)
		require.NotEmpty(t, ev.Type)
		var obj map[string]any
		require.NoError(t, json.Unmarshal(ev.Data, &obj))
		var r kinesis.Record
		require.NoError(t, json.Unmarshal(raw, &r))
		assert.Equal(t, "T#"+string(ev.TenantID)+"#S#"+string(ev.StreamID), *r.DynamoDB.Keys["PK"].S)
	})
}
