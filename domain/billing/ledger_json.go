package billing

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// ledgerJSON is the persisted form of a Ledger: every quantity is a decimal string
// and every collection is sorted, so equal ledgers serialize to equal bytes.
type ledgerJSON struct {
	Period   Period                     `json:"period"`
	Meters   []Meter                    `json:"meters"`
	Cuts     []time.Time                `json:"cuts,omitempty"`
	Opening  map[string]decimal.Decimal `json:"opening,omitempty"`
	Segments []segmentJSON              `json:"segments"`
	Seen     []string                   `json:"seen"`
}

type segmentJSON struct {
	Aggregates map[string]aggregateJSON `json:"aggregates"`
}

type aggregateJSON struct {
	Value    decimal.Decimal  `json:"value"`
	Latest   *decimal.Decimal `json:"latest,omitempty"`
	LatestAt *time.Time       `json:"latest_at,omitempty"`
	LatestID string           `json:"latest_id,omitempty"`
	Values   []string         `json:"values,omitempty"`
}

// MarshalJSON encodes the ledger deterministically.
func (l *Ledger) MarshalJSON() ([]byte, error) {
	w := ledgerJSON{Period: l.period, Cuts: l.cuts, Segments: make([]segmentJSON, len(l.segments))}
	if len(l.opening) > 0 {
		w.Opening = l.opening
	}
	for _, m := range l.meters {
		w.Meters = append(w.Meters, m)
	}
	sort.Slice(w.Meters, func(i, j int) bool { return w.Meters[i].ID < w.Meters[j].ID })
	for i, s := range l.segments {
		w.Segments[i].Aggregates = make(map[string]aggregateJSON, len(s))
		for id, a := range s {
			aj := aggregateJSON{Value: a.value}
			if a.latestID != "" {
				lv, at := a.latest, a.latestAt
				aj.Latest, aj.LatestAt, aj.LatestID = &lv, &at, a.latestID
			}
			for v := range a.values {
				aj.Values = append(aj.Values, v)
			}
			slices.Sort(aj.Values)
			w.Segments[i].Aggregates[id] = aj
		}
	}
	w.Seen = make([]string, 0, len(l.seen))
	for id := range l.seen {
		w.Seen = append(w.Seen, id)
	}
	slices.Sort(w.Seen)
	return json.Marshal(w)
}

// UnmarshalJSON decodes a ledger written by MarshalJSON.
func (l *Ledger) UnmarshalJSON(b []byte) error {
	var w ledgerJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("decode ledger: %w", err)
	}
	n := Ledger{period: w.Period, meters: map[string]Meter{}, opening: map[string]decimal.Decimal{}, seen: map[string]struct{}{}}
	for _, m := range w.Meters {
		n.meters[m.ID] = m
	}
	if err := n.setCuts(w.Cuts); err != nil {
		return fmt.Errorf("decode ledger: %w", err)
	}
	if len(w.Segments) != len(n.segments) {
		return fmt.Errorf("decode ledger: %w: %d segments for %d cuts", ErrInvalidSegments, len(w.Segments), len(w.Cuts))
	}
	for k, v := range w.Opening {
		n.opening[k] = v
	}
	for i, s := range w.Segments {
		for id, aj := range s.Aggregates {
			if _, ok := n.meters[id]; !ok {
				return fmt.Errorf("decode ledger: meter %q: %w", id, ErrUnknownMeter)
			}
			a := &aggregate{value: aj.Value, observed: true, latestID: aj.LatestID}
			if aj.Latest != nil && aj.LatestAt != nil {
				a.latest, a.latestAt = *aj.Latest, aj.LatestAt.UTC()
			}
			if len(aj.Values) > 0 {
				a.values = make(map[string]struct{}, len(aj.Values))
				for _, v := range aj.Values {
					a.values[v] = struct{}{}
				}
			}
			n.segments[i][id] = a
		}
	}
	for _, id := range w.Seen {
		n.seen[id] = struct{}{}
	}
	*l = n
	return nil
}
