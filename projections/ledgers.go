package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Names under which the ledgers projection keeps its read model.
const (
	LedgersProjection = "ledgers"
	// LedgerMetersCollection holds one LedgerMeter per (period, meter).
	LedgerMetersCollection = "meters"
	// LedgerValuesCollection holds one key per (period, meter, property, value)
	// seen, so unique_count is the number of keys under a prefix.
	LedgerValuesCollection = "values"
)

// LedgerMeter is one meter's usage in one period, kept for every aggregation at
// once: the projection has no catalogue (a catalogue file may change between
// runs), so the reader picks the aggregate its catalogue names. Every field is
// order-independent: counts and sums add, max keeps the larger, latest keeps the
// greatest (occurred_at, id), as billing.Ledger does. Decimals are strings.
type LedgerMeter struct {
	Records  int64     `json:"records"`
	Count    string    `json:"count"` // a record of quantity 0 counts 1, as billing.Ledger counts
	Sum      string    `json:"sum"`
	Max      string    `json:"max"`
	Latest   string    `json:"latest"`
	LatestAt time.Time `json:"latest_at"`
	LatestID string    `json:"latest_id"`
}

// LedgerMeterKey is the key of a period's meter in LedgerMetersCollection.
func LedgerMeterKey(p billing.Period, meter string) string {
	return p.String() + "/" + url.PathEscape(meter)
}

// LedgerValuesPrefix is the key prefix of a (period, meter, property)'s distinct
// values in LedgerValuesCollection.
func LedgerValuesPrefix(p billing.Period, meter, property string) string {
	return p.String() + "/" + url.PathEscape(meter) + "/" + url.PathEscape(property) + "/"
}

// Ledgers keeps each tenant's usage totals per period and meter, from the
// usage.recorded events of its usage-<YYYY-MM> streams. Billing itself folds
// ledgers from the store (docs/ARCHITECTURE.md); this read model is for queries
// and is checked against that fold by the billing audit, up to the version of
// the usage stream the engine's checkpoint says was applied
// (AppliedVersionReader). Until that was read, a "heads" item per period kept
// the version, one more read and write with every event; old generations may
// still hold them, and nothing reads them.
type Ledgers struct{}

func init() { Register(Ledgers{}) }

// Name implements Projection.
func (Ledgers) Name() string { return LedgersProjection }

// Handles implements Projection.
func (Ledgers) Handles() []string {
	return []string{metering.TypeRecorded, metering.TypeReported}
}

// Apply implements Projection. A reported batch is summed per meter in memory
// first, so a thousand records cost one read and one write per meter.
func (Ledgers) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	p, err := billing.ParsePeriod(strings.TrimPrefix(string(ev.StreamID), "usage-"))
	if err != nil {
		return fmt.Errorf("ledgers: stream %s: %w", ev.StreamID, err)
	}
	recs, err := schema.UsageRecords(ev)
	if err != nil {
		return fmt.Errorf("ledgers: decode %s: %w", ev.ID, err)
	}
	deltas := map[string]*meterAcc{}
	var order []string
	values := map[string]bool{}
	for _, r := range recs {
		// The billing fold skips usage outside its stream's period; so does this.
		if !p.Contains(r.Timestamp) {
			continue
		}
		q, err := decimal.NewFromString(r.Quantity)
		if err != nil || q.IsNegative() {
			return fmt.Errorf("ledgers: usage %s: quantity %q is not a non-negative decimal", r.ID, r.Quantity)
		}
		d := deltas[r.Meter]
		if d == nil {
			d = &meterAcc{}
			deltas[r.Meter] = d
			order = append(order, r.Meter)
		}
		d.add(q, r.Timestamp.UTC(), r.Meter+"/"+r.ID)
		for prop, v := range r.Properties {
			values[LedgerValuesPrefix(p, r.Meter, prop)+url.PathEscape(v)] = true
		}
	}
	for _, meter := range order {
		key := LedgerMeterKey(p, meter)
		var m LedgerMeter
		if err := getJSON(ctx, tx, ev.TenantID, LedgerMetersCollection, key, &m); err != nil {
			return fmt.Errorf("ledgers: %s: %w", key, err)
		}
		m.merge(deltas[meter].meter())
		if err := putJSON(ctx, tx, ev.TenantID, LedgerMetersCollection, key, m); err != nil {
			return fmt.Errorf("ledgers: %s: %w", key, err)
		}
	}
	for k := range values {
		if err := tx.Put(ctx, ev.TenantID, LedgerValuesCollection, k, []byte("1")); err != nil {
			return fmt.Errorf("ledgers: %s: %w", k, err)
		}
	}
	return nil
}

// meterAcc sums a batch's records with decimals, converted to a LedgerMeter's
// strings once per batch rather than once per record.
type meterAcc struct {
	records              int64
	count, sum, max, lat decimal.Decimal
	latAt                time.Time
	latID                string
}

func (a *meterAcc) add(q decimal.Decimal, at time.Time, id string) {
	n := q
	if n.IsZero() {
		n = decimal.NewFromInt(1)
	}
	a.count = a.count.Add(n)
	a.sum = a.sum.Add(q)
	if a.records == 0 || q.GreaterThan(a.max) {
		a.max = q
	}
	if a.latID == "" || at.After(a.latAt) || at.Equal(a.latAt) && id > a.latID {
		a.lat, a.latAt, a.latID = q, at, id
	}
	a.records++
}

func (a *meterAcc) meter() LedgerMeter {
	return LedgerMeter{Records: a.records, Count: a.count.String(), Sum: a.sum.String(), Max: a.max.String(),
		Latest: a.lat.String(), LatestAt: a.latAt, LatestID: a.latID}
}

// merge folds another partial aggregate of the same meter and period into m.
// Like add, it does not depend on the order of merges.
func (m *LedgerMeter) merge(o LedgerMeter) {
	if o.Records == 0 {
		return
	}
	if m.Records == 0 || decimalOf(o.Max).GreaterThan(decimalOf(m.Max)) {
		m.Max = o.Max
	}
	if m.LatestID == "" || o.LatestAt.After(m.LatestAt) || o.LatestAt.Equal(m.LatestAt) && o.LatestID > m.LatestID {
		m.Latest, m.LatestAt, m.LatestID = o.Latest, o.LatestAt, o.LatestID
	}
	m.Count = decimalOf(m.Count).Add(decimalOf(o.Count)).String()
	m.Sum = decimalOf(m.Sum).Add(decimalOf(o.Sum)).String()
	m.Records += o.Records
}

// Quantity is the meter's period quantity under aggregation agg; unique_count
// needs the distinct values, which the caller counts from LedgerValuesCollection.
func (m LedgerMeter) Quantity(agg billing.Aggregation) decimal.Decimal {
	switch agg {
	case billing.AggCount:
		return decimalOf(m.Count)
	case billing.AggSum:
		return decimalOf(m.Sum)
	case billing.AggMax:
		return decimalOf(m.Max)
	case billing.AggLatest:
		return decimalOf(m.Latest)
	}
	return decimal.Zero
}

// decimalOf parses a stored decimal; the empty string (a new row) is zero.
func decimalOf(s string) decimal.Decimal {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}

func getJSON(ctx context.Context, tx Tx, tenant events.TenantID, coll, key string, v any) error {
	raw, err := tx.Get(ctx, tenant, coll, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

func putJSON(ctx context.Context, tx Tx, tenant events.TenantID, coll, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(ctx, tenant, coll, key, b)
}
