package eventbridge_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/eventbridge"
)

func fixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/pipe-event.json")
	require.NoError(t, err)
	return b
}

func TestDecodeFixture(t *testing.T) {
	t.Parallel()
	ev, err := eventbridge.Decode(fixture(t))
	require.NoError(t, err)
	assert.Equal(t, events.Event{
		ID: "0195a3c2-7e1f-7b2a-9c3d-4e5f6a7b8c9d", TenantID: "acme", StreamID: "item-report.pdf", StreamType: "item",
		Version: 2, Type: "item.put", SchemaVersion: 1,
		OccurredAt:    time.Date(2026, 3, 1, 10, 15, 30, 120000000, time.UTC),
		RecordedAt:    time.Date(2026, 3, 1, 10, 15, 30, 123456000, time.UTC),
		CorrelationID: "req-42", Actor: "user:u-1",
		Data: json.RawMessage(`{"item_id":"report.pdf","size":1024}`),
	}, ev)
}

// TestDecodeRejects edits the fixture one way at a time.
func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		old     string
		new     string
		notEv   bool
		message string
	}{
		{"modify", `"eventName": "INSERT"`, `"eventName": "MODIFY"`, true, "MODIFY"},
		{"idempotency record", `"kind": {"S": "event"}`, `"kind": {"S": "idempotency"}`, true, "idempotency"},
		{"other detail type", `"detail-type": "Event from aws:dynamodb"`, `"detail-type": "Scheduled Event"`, false, "detail-type"},
		{"other source", `"eventSource": "aws:dynamodb"`, `"eventSource": "aws:kinesis"`, false, "event source"},
		{"key of another tenant", `"PK": {"S": "T#acme#S#item-report.pdf"},
        "SK": {"N": "2"},
        "GSI1PK"`, `"PK": {"S": "T#evil#S#item-report.pdf"},
        "SK": {"N": "2"},
        "GSI1PK"`, false, "does not match"},
		{"bad tenant", `"tenant_id": {"S": "acme"}`, `"tenant_id": {"S": "a#b"}`, false, "tenant id"},
		{"version zero", `"SK": {"N": "2"},
        "GSI1PK"`, `"SK": {"N": "0"},
        "GSI1PK"`, false, "version 0"},
		{"data not an object", `"data": {"S": "{\"item_id\":\"report.pdf\",\"size\":1024}"}`, `"data": {"S": "[1]"}`, false, "JSON object"},
		{"no type", `"type": {"S": "item.put"},`, ``, false, "no type"},
		{"time not a number", `"recorded_at": {"N": "1772360130123456"}`, `"recorded_at": {"S": "yesterday"}`, false, "recorded_at"},
		{"no new image", `"NewImage"`, `"Other"`, false, "NewImage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := string(fixture(t))
			require.Contains(t, raw, tt.old)
			_, err := eventbridge.Decode([]byte(strings.Replace(raw, tt.old, tt.new, 1)))
			require.Error(t, err)
			assert.Equal(t, tt.notEv, errorsIsNotEvent(err), err.Error())
			assert.Contains(t, err.Error(), tt.message)
		})
	}
}

// FuzzDecode: any input either fails cleanly or yields an event whose ids are
// valid (they scope read-model keys) and whose data is a JSON object.
func FuzzDecode(f *testing.F) {
	f.Add(fixture(f))
	f.Add([]byte(`{"detail-type":"Event from aws:dynamodb","detail":{"eventSource":"aws:dynamodb","eventName":"INSERT","dynamodb":{"NewImage":{"kind":{"S":"event"}}}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := eventbridge.Decode(raw)
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
	})
}
