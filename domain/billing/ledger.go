package billing

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// Usage is one usage record of a meter. ID identifies it: a second record with the
// same ID is the same usage and counts once.
type Usage struct {
	ID         string
	Meter      string
	Quantity   decimal.Decimal
	OccurredAt time.Time
	Properties map[string]string
}

// Ledger holds a tenant's per-meter aggregates for one period, split into plan
// segments at the cut instants given when it was made. Usage is assigned by
// OccurredAt, never by arrival order, and every aggregation is order-independent,
// so any delivery order (with duplicates) yields the same ledger.
//
// Segment boundaries are fixed at construction: a plan change learnt after usage
// of a later instant was folded needs a refold (Fold), because max, latest and
// unique_count aggregates cannot be split after the fact.
type Ledger struct {
	period   Period
	meters   map[string]Meter
	cuts     []time.Time
	segments []map[string]*aggregate
	opening  map[string]decimal.Decimal
	seen     map[string]struct{}
}

// aggregate is one meter's fold within one segment.
type aggregate struct {
	// value is the count, the sum or the maximum.
	value    decimal.Decimal
	observed bool
	// latest reading by (occurred_at, id); kept for latest and max, whose level
	// carries into the following segment.
	latest   decimal.Decimal
	latestAt time.Time
	latestID string
	// values are the distinct property values of unique_count.
	values map[string]struct{}
}

// NewLedger returns an empty ledger for period p with the catalogue's meters. Each
// cut starts a new segment (a plan change); cuts must lie strictly inside the period.
func NewLedger(cat *Catalog, p Period, cuts ...time.Time) (*Ledger, error) {
	l := &Ledger{
		period:  p,
		meters:  map[string]Meter{},
		opening: map[string]decimal.Decimal{},
		seen:    map[string]struct{}{},
	}
	for _, m := range cat.AllMeters() {
		l.meters[m.ID] = m
	}
	if err := l.setCuts(cuts); err != nil {
		return nil, fmt.Errorf("new ledger %s: %w", p, err)
	}
	return l, nil
}

func (l *Ledger) setCuts(cuts []time.Time) error {
	prev := l.period.Start()
	l.cuts = make([]time.Time, 0, len(cuts))
	for _, c := range cuts {
		c = c.UTC()
		if !c.After(prev) || !c.Before(l.period.End()) {
			return fmt.Errorf("%w: cut %s must be after %s and before %s", ErrInvalidSegments,
				c.Format(time.RFC3339Nano), prev.Format(time.RFC3339Nano), l.period.End().Format(time.RFC3339))
		}
		l.cuts = append(l.cuts, c)
		prev = c
	}
	l.segments = make([]map[string]*aggregate, len(l.cuts)+1)
	for i := range l.segments {
		l.segments[i] = map[string]*aggregate{}
	}
	return nil
}

// Fold builds the ledger of period p from usage in one pass. Usage outside the
// period is skipped, so callers may pass a tenant's whole history; unknown meters
// and invalid usage are errors.
func Fold(cat *Catalog, p Period, cuts []time.Time, usage []Usage) (*Ledger, error) {
	l, err := NewLedger(cat, p, cuts...)
	if err != nil {
		return nil, err
	}
	for i := range usage {
		if !p.Contains(usage[i].OccurredAt) {
			continue
		}
		if _, err := l.Add(usage[i]); err != nil {
			return nil, fmt.Errorf("fold %s: %w", p, err)
		}
	}
	return l, nil
}

// Period returns the ledger's period.
func (l *Ledger) Period() Period { return l.period }

// Cuts returns the instants at which segments after the first start.
func (l *Ledger) Cuts() []time.Time { return slices.Clone(l.cuts) }

// SegmentCount is the number of segments (cuts + 1).
func (l *Ledger) SegmentCount() int { return len(l.segments) }

// SetOpening sets the level of a max or latest gauge carried over from before the
// period (storage held all month counts even without writes).
func (l *Ledger) SetOpening(meter string, v decimal.Decimal) error {
	m, ok := l.meters[meter]
	if !ok {
		return fmt.Errorf("set opening %s: %w", meter, ErrUnknownMeter)
	}
	if m.Aggregation != AggMax && m.Aggregation != AggLatest {
		return fmt.Errorf("set opening %s: %w: only max and latest meters carry a level", meter, ErrInvalidUsage)
	}
	if v.IsNegative() {
		return fmt.Errorf("set opening %s: %w: negative level", meter, ErrInvalidUsage)
	}
	l.opening[meter] = v
	return nil
}

// Add folds one usage record in. It reports false, and changes nothing, when a
// record with the same ID was already folded.
func (l *Ledger) Add(u Usage) (bool, error) {
	if u.ID == "" {
		return false, fmt.Errorf("add usage: %w: empty id", ErrInvalidUsage)
	}
	m, ok := l.meters[u.Meter]
	if !ok {
		return false, fmt.Errorf("add usage %s: meter %q: %w", u.ID, u.Meter, ErrUnknownMeter)
	}
	if !l.period.Contains(u.OccurredAt) {
		return false, fmt.Errorf("add usage %s at %s to %s: %w", u.ID, u.OccurredAt.UTC().Format(time.RFC3339), l.period, ErrOutsidePeriod)
	}
	if u.Quantity.IsNegative() {
		return false, fmt.Errorf("add usage %s: %w: negative quantity %s", u.ID, ErrInvalidUsage, u.Quantity)
	}
	if _, dup := l.seen[u.ID]; dup {
		return false, nil
	}
	l.seen[u.ID] = struct{}{}
	seg := l.segments[l.segmentOf(u.OccurredAt)]
	a := seg[u.Meter]
	if a == nil {
		a = &aggregate{}
		seg[u.Meter] = a
	}
	at := u.OccurredAt.UTC()
	switch m.Aggregation {
	case AggCount:
		// A count record stands for Quantity occurrences (1 when zero), so
		// producers may batch without changing the fold.
		if u.Quantity.IsZero() {
			a.value = a.value.Add(decimal.NewFromInt(1))
		} else {
			a.value = a.value.Add(u.Quantity)
		}
	case AggSum:
		a.value = a.value.Add(u.Quantity)
	case AggMax:
		if !a.observed || u.Quantity.GreaterThan(a.value) {
			a.value = u.Quantity
		}
		a.observeLatest(u.Quantity, at, u.ID)
	case AggLatest:
		a.observeLatest(u.Quantity, at, u.ID)
	case AggUniqueCount:
		v, ok := u.Properties[m.Property]
		if ok {
			if a.values == nil {
				a.values = map[string]struct{}{}
			}
			a.values[v] = struct{}{}
		}
	}
	a.observed = true
	return true, nil
}

// observeLatest keeps the reading with the greatest (occurred_at, id), so ties
// resolve the same way whatever the delivery order.
func (a *aggregate) observeLatest(v decimal.Decimal, at time.Time, id string) {
	if a.latestID == "" || at.After(a.latestAt) || at.Equal(a.latestAt) && id > a.latestID {
		a.latest, a.latestAt, a.latestID = v, at, id
	}
}

func (l *Ledger) segmentOf(t time.Time) int {
	return sort.Search(len(l.cuts), func(i int) bool { return l.cuts[i].After(t) })
}

// carryIn is the level of a max or latest gauge at the start of segment i.
func (l *Ledger) carryIn(i int, meter string) (decimal.Decimal, bool) {
	for j := i - 1; j >= 0; j-- {
		if a := l.segments[j][meter]; a != nil && a.latestID != "" {
			return a.latest, true
		}
	}
	v, ok := l.opening[meter]
	return v, ok
}

// Quantity is the aggregated quantity of a meter in segment i (0 when unused).
func (l *Ledger) Quantity(i int, meter string) decimal.Decimal {
	m, ok := l.meters[meter]
	if !ok || i < 0 || i >= len(l.segments) {
		return decimal.Zero
	}
	a := l.segments[i][meter]
	switch m.Aggregation {
	case AggMax:
		carry, has := l.carryIn(i, meter)
		switch {
		case a == nil && !has:
			return decimal.Zero
		case a == nil:
			return carry
		case has && carry.GreaterThan(a.value):
			return carry
		}
		return a.value
	case AggLatest:
		if a != nil && a.latestID != "" {
			return a.latest
		}
		carry, _ := l.carryIn(i, meter)
		return carry
	case AggUniqueCount:
		if a == nil {
			return decimal.Zero
		}
		return decimal.NewFromInt(int64(len(a.values)))
	}
	if a == nil {
		return decimal.Zero
	}
	return a.value
}

// Total is a meter's quantity over the whole period: the sum of segments for count
// and sum, the peak for max, the last level for latest, distinct values for unique_count.
func (l *Ledger) Total(meter string) decimal.Decimal {
	m, ok := l.meters[meter]
	if !ok {
		return decimal.Zero
	}
	switch m.Aggregation {
	case AggMax:
		out := decimal.Zero
		for i := range l.segments {
			out = decimal.Max(out, l.Quantity(i, meter))
		}
		return out
	case AggLatest:
		return l.Quantity(len(l.segments)-1, meter)
	case AggUniqueCount:
		all := map[string]struct{}{}
		for _, s := range l.segments {
			if a := s[meter]; a != nil {
				for v := range a.values {
					all[v] = struct{}{}
				}
			}
		}
		return decimal.NewFromInt(int64(len(all)))
	}
	out := decimal.Zero
	for i := range l.segments {
		out = out.Add(l.Quantity(i, meter))
	}
	return out
}

// Totals returns Total for every meter that has usage or an opening level.
func (l *Ledger) Totals() map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for id := range l.meters {
		_, open := l.opening[id]
		used := open
		for _, s := range l.segments {
			if s[id] != nil {
				used = true
			}
		}
		if used {
			out[id] = l.Total(id)
		}
	}
	return out
}

// Seen reports whether usage with this id has been folded.
func (l *Ledger) Seen(id string) bool {
	_, ok := l.seen[id]
	return ok
}

// Clone returns a deep copy, so late usage can be folded into a copy of an issued ledger.
func (l *Ledger) Clone() *Ledger {
	c := &Ledger{
		period:   l.period,
		meters:   maps(l.meters),
		cuts:     slices.Clone(l.cuts),
		segments: make([]map[string]*aggregate, len(l.segments)),
		opening:  maps(l.opening),
		seen:     make(map[string]struct{}, len(l.seen)),
	}
	for id := range l.seen {
		c.seen[id] = struct{}{}
	}
	for i, s := range l.segments {
		c.segments[i] = make(map[string]*aggregate, len(s))
		for id, a := range s {
			cp := *a
			if a.values != nil {
				cp.values = make(map[string]struct{}, len(a.values))
				for v := range a.values {
					cp.values[v] = struct{}{}
				}
			}
			c.segments[i][id] = &cp
		}
	}
	return c
}

func maps[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
