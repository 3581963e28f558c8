package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/item"
)

// TestItemViewIsItemJSON: writeItem answers with item.AppendJSON, which must stay
// the JSON of itemView, the documented shape, for every item the API shows.
func TestItemViewIsItemJSON(t *testing.T) {
	it := item.Item{ID: "report.pdf", Data: json.RawMessage(`{"a":[1,"x"]}`), Version: 3,
		UpdatedAt: time.Date(2026, 3, 1, 10, 0, 0, 5000, time.UTC)}
	want, err := json.Marshal(viewOf(it))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(it.AppendJSON(nil)))
}
