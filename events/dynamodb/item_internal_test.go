package dynamodb

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

var update = flag.Bool("update", false, "rewrite golden files")

// renderItem writes an item in DynamoDB's JSON shape ({"name": {"S": "..."}}),
// keys sorted, as stream records and the CLI show it.
func renderItem(t *testing.T, it map[string]ddbtypes.AttributeValue) []byte {
	out := map[string]map[string]string{}
	for name, v := range it {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			out[name] = map[string]string{"S": v.Value}
		case *ddbtypes.AttributeValueMemberN:
			out[name] = map[string]string{"N": v.Value}
		default:
			t.Fatalf("attribute %s has an unexpected type %T", name, v)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

// Stored events are never rewritten, so their item layout must never change by accident.
func TestEventItemGolden(t *testing.T) {
	e := events.Event{
		ID: "0190a0b0-0000-7000-8000-000000000001", TenantID: "tenant-a", StreamID: "item-1", StreamType: "item",
		Version: 7, Type: "item.created", SchemaVersion: 2,
		OccurredAt:    time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC),
		RecordedAt:    time.Date(2026, 3, 14, 15, 9, 27, 123456000, time.UTC),
		CorrelationID: "corr-1", CausationID: "cause-1", Actor: "user:alice",
		Data: json.RawMessage(`{"name":"Widget","price":"12.50"}`),
	}
	it := eventItem(e)
	got := renderItem(t, it)
	path := filepath.Join("testdata", "event.item.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "item layout changed; stored events would no longer decode (run with -update only for a deliberate, versioned change)")

	back, err := decodeEvent(it)
	require.NoError(t, err)
	require.Equal(t, e, back, "an item decodes to the event it was made from")
}

func TestCursorsRejectForeignInput(t *testing.T) {
	tc := formatTenantCursor(tenantCursor{Low: "0000000000000123#s#0000000001", Seen: [][2]uint64{{123, 9}}})
	ac := formatAllCursor(allCursor{Tenants: map[string]tenantCursor{"t1": {Low: "0000000000000123"}}})
	tests := []struct {
		name   string
		cursor events.Cursor
		tenant bool
		ok     bool
	}{
		{"tenant cursor", tc, true, true},
		{"all cursor", ac, false, true},
		{"all cursor given to ReadTenant", ac, true, false},
		{"tenant cursor given to ReadAll", tc, false, false},
		{"bad low mark", formatTenantCursor(tenantCursor{Low: "12"}), true, false},
		{"bad tenant", formatAllCursor(allCursor{Tenants: map[string]tenantCursor{"a#b": {}}}), false, false},
		{"unknown field", events.Cursor(tenantCursorPrefix + "eyJ4IjoxfQ"), true, false},
		{"not base64", events.Cursor(tenantCursorPrefix + "!!"), true, false},
	}
	for _, tt := range tests {
		var err error
		if tt.tenant {
			_, err = parseTenantCursor(tt.cursor)
		} else {
			_, err = parseAllCursor(tt.cursor)
		}
		if tt.ok {
			require.NoError(t, err, tt.name)
		} else {
			require.ErrorIs(t, err, events.ErrInvalidCursor, tt.name)
		}
	}
}
