package stack_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// matches evaluates the subset of EventBridge's pattern language the stack uses:
// an array lists allowed values, an object descends into the event.
func matches(pattern map[string]any, event map[string]any) bool {
	for k, want := range pattern {
		got, ok := event[k]
		if !ok {
			return false
		}
		switch w := want.(type) {
		case []any:
			if !slices.Contains(w, got) {
				return false
			}
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok || !matches(w, sub) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// TestPatternsMatchThePipeFixture checks the pipe's filter and the rules against
// the bus event events/eventbridge decodes (its fixture, an item.put): the filter
// keeps it, the items projection's rule matches it, the invoices rule does not.
func TestPatternsMatchThePipeFixture(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "eventbridge", "testdata", "pipe-event.json"))
	require.NoError(t, err)
	var event map[string]any
	require.NoError(t, json.Unmarshal(raw, &event))
	detail := event["detail"].(map[string]any)
	require.Equal(t, "item.put", detail["dynamodb"].(map[string]any)["NewImage"].(map[string]any)["type"].(map[string]any)["S"])

	for _, p := range shared.ofType("AWS::Pipes::Pipe") {
		filter := p.Properties["SourceParameters"].(map[string]any)["FilterCriteria"].(map[string]any)["Filters"].([]any)[0].(map[string]any)["Pattern"].(string)
		var pattern map[string]any
		require.NoError(t, json.Unmarshal([]byte(filter), &pattern))
		assert.True(t, matches(pattern, detail), "the pipe's filter keeps a stored event")
		idem := map[string]any{"eventName": "INSERT", "dynamodb": map[string]any{"NewImage": map[string]any{"kind": map[string]any{"S": "idempotency"}}}}
		assert.False(t, matches(pattern, idem), "and drops other items")
	}
	rules := projectionRules(t, shared)
	tests := []struct {
		projection string
		want       bool
	}{
		{"items", true},
		{"invoices", false},
		{"tenants", false},
	}
	for _, tt := range tests {
		rule, ok := rules[tt.projection]
		require.True(t, ok, tt.projection)
		assert.Equal(t, tt.want, matches(rule.Properties["EventPattern"].(map[string]any), event), tt.projection)
	}
}
