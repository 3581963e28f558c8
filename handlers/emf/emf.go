package emf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/tenantstream/tenantstream/domain/clock"
)

// Units CloudWatch accepts that the platform uses.
const (
	Count   = "Count"
	Seconds = "Seconds"
)

// MaxDimensions is CloudWatch's limit of dimensions in one dimension set.
const MaxDimensions = 30

// TenantProperty is the member holding the tenant id: a property, searchable
// in Logs Insights, never a dimension (one metric series per tenant would be
// costly and unbounded).
const TenantProperty = "tenant_id"

// ErrTenantDimension: a dimension names the tenant.
var ErrTenantDimension = errors.New("emf: the tenant id must not be a dimension")

// Metric is one value of a line.
type Metric struct {
	Name  string
	Unit  string // Count, Seconds, ...; empty: None
	Value float64
}

// Line is one log event: its metrics share one dimension set.
type Line struct {
	Dimensions map[string]string
	TenantID   string         // written as the tenant_id property when set
	Properties map[string]any // more searchable members, not dimensions
	Metrics    []Metric
}

// Writer writes EMF lines, one JSON object per line. A nil *Writer or one
// without a namespace writes nothing, so functions run without metrics
// configured. Safe for concurrent use.
type Writer struct {
	W         io.Writer
	Namespace string
	// Dimensions are added to every line (the function name, say).
	Dimensions map[string]string
	Clock      clock.Clock // nil: clock.System

	mu sync.Mutex
}

// Emit writes one line. Errors: ErrTenantDimension, too many dimensions,
// a dimension or property clashing with a metric, or the write's.
func (w *Writer) Emit(l Line) error {
	if w == nil || w.Namespace == "" || len(l.Metrics) == 0 {
		return nil
	}
	b, err := w.Marshal(l)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.W.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write emf line: %w", err)
	}
	return nil
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Marshal returns the line's JSON without writing it.
func (w *Writer) Marshal(l Line) ([]byte, error) {
	clk := w.Clock
	if clk == nil {
		clk = clock.System{}
	}
	root := map[string]any{}
	for k, v := range l.Properties {
		root[k] = v
	}
	if l.TenantID != "" {
		root[TenantProperty] = l.TenantID
	}
	dims := maps.Clone(w.Dimensions)
	if dims == nil {
		dims = map[string]string{}
	}
	maps.Copy(dims, l.Dimensions)
	if len(dims) > MaxDimensions {
		return nil, fmt.Errorf("emf line: %d dimensions, CloudWatch allows %d", len(dims), MaxDimensions)
	}
	keys := slices.Sorted(maps.Keys(dims))
	if keys == nil {
		keys = []string{} // an empty dimension set, never null
	}
	for _, k := range keys {
		if isTenantKey(k) {
			return nil, fmt.Errorf("emf dimension %q: %w", k, ErrTenantDimension)
		}
		root[k] = dims[k]
	}
	d := directive{Namespace: w.Namespace, Dimensions: [][]string{keys}}
	for _, m := range l.Metrics {
		if _, clash := root[m.Name]; clash {
			return nil, fmt.Errorf("emf metric %q: clashes with a dimension or property", m.Name)
		}
		root[m.Name] = m.Value
		d.Metrics = append(d.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
	}
	root["_aws"] = metadata{Timestamp: clk.Now().UnixMilli(), CloudWatchMetrics: []directive{d}}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("marshal emf line: %w", err)
	}
	return b, nil
}

func isTenantKey(k string) bool {
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(k))
	return n == "tenantid" || n == "tenant"
}
