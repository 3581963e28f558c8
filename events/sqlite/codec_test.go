package sqlite

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

var update = flag.Bool("update", false, "rewrite the golden files in ../testdata")

// Stored bytes are never rewritten, so the layout of the golden envelope (shared
// with the JSON golden test in package events) is pinned byte for byte.
func TestEnvelopeCodecGolden(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "testdata", "event.golden.json"))
	require.NoError(t, err)
	var ev events.Event
	require.NoError(t, json.Unmarshal(src, &ev))
	got := appendEnvelope(nil, &ev)
	path := filepath.Join("..", "testdata", "event.golden.sqlite.bin")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create the golden file")
	assert.Equal(t, want, got)

	var back events.Event
	require.NoError(t, decodeEnvelope(append([]byte(nil), want...), &back))
	assert.Equal(t, ev, back)
}

func TestEnvelopeCodecRejectsCorrupt(t *testing.T) {
	t.Parallel()
	ev := events.Event{ID: "x", TenantID: "t", StreamID: "s", Type: "a.b", Version: 1, Data: json.RawMessage(`{}`)}
	good := appendEnvelope(nil, &ev)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown layout", append([]byte{9}, good[1:]...)},
		{"truncated in strings", good[:3]},
		{"truncated in numbers", good[:len(good)-len(ev.Data)-3]},
		{"length past end", []byte{codecV1, 200}},
	}
	for _, tc := range tests {
		var out events.Event
		assert.ErrorIs(t, decodeEnvelope(tc.b, &out), errCorrupt, tc.name)
	}
}

// FuzzDecodeEnvelope: stored bytes can be damaged; decode must fail cleanly, and
// whatever decodes must encode back to the same bytes.
func FuzzDecodeEnvelope(f *testing.F) {
	ev := events.Event{ID: "id", TenantID: "t", StreamID: "s", StreamType: "st", Type: "a.b", Version: 3, SchemaVersion: 2, Data: json.RawMessage(`{"a":1}`)}
	f.Add(appendEnvelope(nil, &ev))
	f.Add([]byte{codecV1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out events.Event
		if err := decodeEnvelope(append([]byte(nil), b...), &out); err != nil {
			return
		}
		again := appendEnvelope(nil, &out)
		var out2 events.Event
		require.NoError(t, decodeEnvelope(again, &out2))
		require.Equal(t, out, out2)
	})
}

func TestParseCursor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      events.Cursor
		want    int64
		wantErr bool
	}{
		{"", 0, false},
		{encodeCursor(0), 0, false},
		{encodeCursor(42), 42, false},
		{encodeCursor(1<<63 - 1), 1<<63 - 1, false},
		{"p1.", 0, true},
		{"p1.-1", 0, true},
		{"p1.007", 0, true},
		{"p1.1a", 0, true},
		{"p1.99999999999999999999", 0, true},
		{"p2.1", 0, true},
		{"garbage", 0, true},
	}
	for _, tc := range tests {
		got, err := parseCursor(tc.in)
		if tc.wantErr {
			assert.ErrorIs(t, err, events.ErrInvalidCursor, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got)
	}
}

// FuzzParseCursor: cursors come back from clients. A parsed cursor must round-trip.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "p1.0", "p1.123", "p1.-5", "p1.00", "x", "p1.9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := parseCursor(events.Cursor(s))
		if err != nil {
			require.ErrorIs(t, err, events.ErrInvalidCursor)
			return
		}
		require.GreaterOrEqual(t, pos, int64(0))
		if s != "" {
			require.Equal(t, events.Cursor(s), encodeCursor(pos))
		}
	})
}
