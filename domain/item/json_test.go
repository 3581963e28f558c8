package item

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAppendJSON holds the hand-written item encoding to encoding/json's.
func TestAppendJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 15, 30, 123456789, time.UTC)
	tests := []struct {
		name string
		it   Item
		// html: the data holds <, > or &, which encoding/json escapes in raw
		// messages; the bytes then differ but the JSON values are equal.
		html bool
	}{
		{name: "plain", it: Item{ID: "report.pdf", Data: json.RawMessage(`{"a":1,"b":[true,null,"x"]}`), Version: 7, UpdatedAt: at}},
		{name: "whole seconds", it: Item{ID: "a", Data: json.RawMessage(`{}`), Version: 1, UpdatedAt: at.Truncate(time.Second)}},
		{name: "other zone", it: Item{ID: "a:b_c-d", Data: json.RawMessage(`{"k":"v"}`), Version: 123456789012, UpdatedAt: at.In(time.FixedZone("x", 5*3600+1800))}},
		{name: "unicode data", it: Item{ID: "u", Data: json.RawMessage(`{"name":"Zoë \u2028 ✓","esc":"a\"b\\c\n"}`), Version: 2, UpdatedAt: at}},
		{name: "html in data", it: Item{ID: "h", Data: json.RawMessage(`{"html":"<b>&</b>"}`), Version: 3, UpdatedAt: at}, html: true},
		{name: "id needing escapes", it: Item{ID: "a\"<b>&\\", Data: json.RawMessage(`{}`), Version: 4, UpdatedAt: at}},
		{name: "no data", it: Item{ID: "n", Version: 5, UpdatedAt: at}},
		{name: "deleted", it: Item{ID: "d", Version: 6, UpdatedAt: at, Deleted: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.it)
			require.NoError(t, err)
			got := tc.it.AppendJSON([]byte("prefix:"))
			require.True(t, bytes.HasPrefix(got, []byte("prefix:")), "appends")
			got = got[len("prefix:"):]
			if !tc.html {
				assert.Equal(t, string(want), string(got))
			}
			var w, g any
			require.NoError(t, json.Unmarshal(want, &w))
			require.NoError(t, json.Unmarshal(got, &g), "valid JSON: %s", got)
			assert.Equal(t, w, g)
		})
	}
}
