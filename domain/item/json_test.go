package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/item"
)

// TestAppendItemJSON holds the hand-written item encoding to encoding/json's.
func TestAppendItemJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 15, 30, 123456789, time.UTC)
	tests := []struct {
		name string
		it   item.Item
		// html: the data holds <, > or &, which encoding/json escapes in raw
		// messages; the bytes then differ but the JSON values are equal.
		html bool
	}{
		{name: "plain", it: item.Item{ID: "report.pdf", Data: json.RawMessage(`{"a":1,"b":[true,null,"x"]}`), Version: 7, UpdatedAt: at}},
		{name: "whole seconds", it: item.Item{ID: "a", Data: json.RawMessage(`{}`), Version: 1, UpdatedAt: at.Truncate(time.Second)}},
		{name: "other zone", it: item.Item{ID: "a:b_c-d", Data: json.RawMessage(`{"k":"v"}`), Version: 123456789012, UpdatedAt: at.In(time.FixedZone("x", 5*3600+1800))}},
		{name: "unicode data", it: item.Item{ID: "u", Data: json.RawMessage(`{"name":"Zoë \u2028 ✓","esc":"a\"b\\c\n"}`), Version: 2, UpdatedAt: at}},
		{name: "html in data", it: item.Item{ID: "h", Data: json.RawMessage(`{"html":"<b>&</b>"}`), Version: 3, UpdatedAt: at}, html: true},
		{name: "id needing escapes", it: item.Item{ID: "a\"<b>&\\", Data: json.RawMessage(`{}`), Version: 4, UpdatedAt: at}},
		{name: "no data", it: item.Item{ID: "n", Version: 5, UpdatedAt: at}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			require.NoError(t, json.NewEncoder(&want).Encode(viewOf(tc.it)))
			got := appendItemJSON(nil, tc.it)
			if !tc.html {
				assert.Equal(t, want.String(), string(got))
			}
			var w, g any
			require.NoError(t, json.Unmarshal(want.Bytes(), &w))
			require.NoError(t, json.Unmarshal(got, &g), "valid JSON: %s", got)
			assert.Equal(t, w, g)
		})
	}
}
