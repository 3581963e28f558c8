package emf

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
)

var at = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// The line follows AWS's "Specification: Embedded metric format": a root
// object with _aws.Timestamp (ms) and CloudWatchMetrics directives (Namespace,
// Dimensions as arrays of dimension sets, Metrics with Name and Unit), and every
// referenced dimension and metric as a root member.
func TestLineShape(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := &Writer{W: &buf, Namespace: "tenantstream", Dimensions: map[string]string{"Function": "projector"}, Clock: clock.Fixed(at)}
	require.NoError(t, w.Emit(Line{
		Dimensions: map[string]string{"Projection": "items"},
		TenantID:   "acme",
		Properties: map[string]any{"event_id": "e1"},
		Metrics:    []Metric{{Name: "ProjectionLagSeconds", Unit: Seconds, Value: 1.5}},
	}))
	require.True(t, strings.HasSuffix(buf.String(), "}\n"))
	assert.Equal(t, 1, strings.Count(buf.String(), "\n"), "one log event per line")
	assert.JSONEq(t, `{
		"_aws": {"Timestamp": 1772359200000, "CloudWatchMetrics": [{
			"Namespace": "tenantstream",
			"Dimensions": [["Function", "Projection"]],
			"Metrics": [{"Name": "ProjectionLagSeconds", "Unit": "Seconds"}]}]},
		"Function": "projector", "Projection": "items",
		"ProjectionLagSeconds": 1.5, "tenant_id": "acme", "event_id": "e1"}`, buf.String())
}

func TestEmitCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		w       *Writer
		line    Line
		wantErr string
		want    string // JSON, or empty for nothing written
	}{
		{name: "no dimensions is one empty set", w: &Writer{Namespace: "ns"},
			line: Line{Metrics: []Metric{{Name: "EventsAppended", Unit: Count, Value: 3}}},
			want: `{"_aws":{"Timestamp":1772359200000,"CloudWatchMetrics":[{"Namespace":"ns","Dimensions":[[]],"Metrics":[{"Name":"EventsAppended","Unit":"Count"}]}]},"EventsAppended":3}`},
		{name: "tenant as a dimension is refused", w: &Writer{Namespace: "ns"},
			line:    Line{Dimensions: map[string]string{"TenantId": "acme"}, Metrics: []Metric{{Name: "M", Value: 1}}},
			wantErr: "must not be a dimension"},
		{name: "tenant_id dimension is refused", w: &Writer{Namespace: "ns"},
			line:    Line{Dimensions: map[string]string{"tenant_id": "acme"}, Metrics: []Metric{{Name: "M", Value: 1}}},
			wantErr: "must not be a dimension"},
		{name: "metric clashing with a property", w: &Writer{Namespace: "ns"},
			line:    Line{Properties: map[string]any{"M": 1}, Metrics: []Metric{{Name: "M", Value: 1}}},
			wantErr: "clashes"},
		{name: "no namespace writes nothing", w: &Writer{},
			line: Line{Metrics: []Metric{{Name: "M", Value: 1}}}},
		{name: "no metrics writes nothing", w: &Writer{Namespace: "ns"}, line: Line{TenantID: "acme"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tc.w.W, tc.w.Clock = &buf, clock.Fixed(at)
			err := tc.w.Emit(tc.line)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Empty(t, buf.String())
				return
			}
			require.NoError(t, err)
			if tc.want == "" {
				assert.Empty(t, buf.String())
				return
			}
			assert.JSONEq(t, tc.want, buf.String())
		})
	}
}

func TestTooManyDimensions(t *testing.T) {
	t.Parallel()
	dims := map[string]string{}
	for i := range MaxDimensions + 1 {
		dims[string(rune('a'+i%26))+string(rune('A'+i/26))] = "v"
	}
	w := &Writer{W: &bytes.Buffer{}, Namespace: "ns"}
	require.ErrorContains(t, w.Emit(Line{Dimensions: dims, Metrics: []Metric{{Name: "M", Value: 1}}}), "31 dimensions")
}

func TestNilWriter(t *testing.T) {
	t.Parallel()
	var w *Writer
	assert.NoError(t, w.Emit(Line{Metrics: []Metric{{Name: "M", Value: 1}}}))
}

// Concurrent emitters never interleave lines.
func TestConcurrentLinesStayWhole(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := &Writer{W: &buf, Namespace: "ns"}
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				assert.NoError(t, w.Emit(Line{TenantID: "acme", Metrics: []Metric{{Name: "EventsAppended", Unit: Count, Value: 1}}}))
			}
		}()
	}
	for range 8 {
		<-done
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 400)
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
	}
}
