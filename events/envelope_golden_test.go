package events

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenEvent populates every serialized field of the envelope.
func goldenEvent() Event {
	return Event{
		ID: "0190a0b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b", TenantID: "tenant-42", StreamID: "invoice-2026-03",
		StreamType: "invoice", Version: 7, Type: "invoice.issued", SchemaVersion: 2,
		OccurredAt:    time.Date(2026, 3, 31, 23, 59, 59, 123456000, time.UTC),
		RecordedAt:    time.Date(2026, 4, 1, 0, 0, 1, 654321000, time.UTC),
		CorrelationID: "corr-1", CausationID: "cause-1", Actor: "user:alice",
		Data:     json.RawMessage(`{"currency":"EUR","lines":[{"amount":"12.34","item":"api-calls"}],"total":"12.34"}`),
		Position: 99, // not serialized
	}
}

// The JSON envelope leaves the process (EventBridge, exports), so its shape must
// never change by accident.
func TestEventJSONGolden(t *testing.T) {
	t.Parallel()
	got, err := json.Marshal(goldenEvent())
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", "event.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create the golden file")
	assert.Equal(t, string(want), string(got))

	var back Event
	require.NoError(t, json.Unmarshal(want, &back))
	exp := goldenEvent()
	exp.Position = 0
	assert.Equal(t, exp, back)
}
