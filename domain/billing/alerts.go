package billing

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// Usage alerts and spend caps (docs/billing.md, "Alerts and spend caps"). A
// threshold is reached in a period when the period's value (a meter's total
// in the ledger, or the running subtotal of the draft invoice) reaches it;
// each (period, threshold) is reported once, by appending
// usage.threshold_reached at "no stream" to its own stream.

// Threshold is one alert threshold, as a tenant configures it (PUT
// /tenants/{tenant_id}/alerts) or a plan declares it (`alerts:`). Exactly one
// of Quantity, PercentOfLimit and Subtotal is set. Decimals are strings.
type Threshold struct {
	// Meter is the meter of a quantity or percent threshold. A percent
	// threshold without a meter applies to every metered limit of the plan.
	Meter string `json:"meter,omitempty"`
	// Quantity is reached when the meter's period total reaches it.
	Quantity string `json:"quantity,omitempty"`
	// PercentOfLimit (1-1000) is reached when the meter's period total reaches
	// that share of its limit under the tenant's plan and overrides.
	PercentOfLimit *int `json:"percent_of_limit,omitempty"`
	// Subtotal is reached when the period's running subtotal (the billing
	// summary's) reaches it.
	Subtotal string `json:"subtotal,omitempty"`
}

// Threshold kinds, as usage.threshold_reached names them.
const (
	ThresholdQuantity = "quantity"
	ThresholdPercent  = "percent_of_limit"
	ThresholdSubtotal = "subtotal"
)

// MaxThresholds bounds the thresholds of one configuration or plan.
const MaxThresholds = 100

// Kind is which of the three forms the threshold takes ("" when none or several).
func (t Threshold) Kind() string {
	n, k := 0, ""
	if t.Quantity != "" {
		n, k = n+1, ThresholdQuantity
	}
	if t.PercentOfLimit != nil {
		n, k = n+1, ThresholdPercent
	}
	if t.Subtotal != "" {
		n, k = n+1, ThresholdSubtotal
	}
	if n != 1 {
		return ""
	}
	return k
}

// ID names the threshold in its stream and answers: the same threshold
// always has the same id, so a configuration replaced by an equal one does
// not fire it again in the period. A percent threshold without a meter has
// no id of its own: each metered limit it expands to has one.
func (t Threshold) ID() string {
	switch t.Kind() {
	case ThresholdQuantity:
		return "q-" + t.Meter + "-" + t.Quantity
	case ThresholdPercent:
		m := t.Meter
		if m == "" {
			m = "all"
		}
		return fmt.Sprintf("p-%s-%d", m, *t.PercentOfLimit)
	case ThresholdSubtotal:
		return "s-" + t.Subtotal
	}
	return ""
}

// ThresholdError is a threshold or cap that does not validate, with the
// path of the offending field (thresholds[2].meter).
type ThresholdError struct {
	Field   string
	Message string
}

func (e *ThresholdError) Error() string { return e.Field + ": " + e.Message }

// decimalString is what an amount or a quantity may be written as: digits,
// an optional point and up to 12 decimals, no sign or exponent.
var decimalString = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,12})?$`)

// ParseAmount parses a decimal string of at most scale decimal places.
func ParseAmount(s string, scale int32) (decimal.Decimal, error) {
	if !decimalString.MatchString(s) {
		return decimal.Zero, errors.New("must be a decimal string such as \"50.00\" (digits, at most 12 decimal places)")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, errors.New("must be a decimal string")
	}
	if !d.Equal(d.Truncate(scale)) {
		return decimal.Zero, fmt.Errorf("must have at most %d decimal places", scale)
	}
	return d, nil
}

// ValidateThresholds checks thresholds against the catalogue and returns
// them normalized (decimals in their shortest form, so equal thresholds have
// equal ids). path prefixes every field ("thresholds", "plans[0].alerts").
// A meter must exist and not aggregate by latest (a latest reading can fall,
// so whether it was ever reached would depend on delivery order); percents
// are whole numbers 1-1000; quantities are positive decimals, subtotals
// positive amounts in the currency's minor units; no threshold twice.
func (c *Catalog) ValidateThresholds(path string, ths []Threshold) ([]Threshold, error) {
	if len(ths) > MaxThresholds {
		return nil, &ThresholdError{Field: path, Message: fmt.Sprintf("holds %d thresholds, at most %d", len(ths), MaxThresholds)}
	}
	out := make([]Threshold, 0, len(ths))
	seen := map[string]int{}
	for i, t := range ths {
		p := fmt.Sprintf("%s[%d]", path, i)
		kind := t.Kind()
		if kind == "" {
			return nil, &ThresholdError{Field: p, Message: "must have exactly one of quantity, percent_of_limit and subtotal"}
		}
		switch kind {
		case ThresholdSubtotal:
			if t.Meter != "" {
				return nil, &ThresholdError{Field: p + ".meter", Message: "a subtotal threshold has no meter"}
			}
			d, err := ParseAmount(t.Subtotal, c.minor)
			if err == nil && d.IsZero() {
				err = errors.New("must be greater than zero")
			}
			if err != nil {
				return nil, &ThresholdError{Field: p + ".subtotal", Message: err.Error()}
			}
			t.Subtotal = d.String()
		default:
			if t.Meter == "" && kind == ThresholdQuantity {
				return nil, &ThresholdError{Field: p + ".meter", Message: "a quantity threshold names its meter"}
			}
			if t.Meter != "" {
				m, ok := c.meters[t.Meter]
				if !ok {
					return nil, &ThresholdError{Field: p + ".meter", Message: fmt.Sprintf("unknown meter %q", t.Meter)}
				}
				if m.Aggregation == AggLatest {
					return nil, &ThresholdError{Field: p + ".meter", Message: fmt.Sprintf("meter %q aggregates by latest, whose value can fall: an alert on it would depend on the order usage arrives in", t.Meter)}
				}
			}
			if kind == ThresholdQuantity {
				d, err := ParseAmount(t.Quantity, maxPriceScale)
				if err == nil && d.IsZero() {
					err = errors.New("must be greater than zero")
				}
				if err != nil {
					return nil, &ThresholdError{Field: p + ".quantity", Message: err.Error()}
				}
				t.Quantity = d.String()
			} else if pc := *t.PercentOfLimit; pc < 1 || pc > 1000 {
				return nil, &ThresholdError{Field: p + ".percent_of_limit", Message: "must be a whole number from 1 to 1000"}
			}
		}
		id := t.ID()
		if j, dup := seen[id]; dup {
			return nil, &ThresholdError{Field: p, Message: fmt.Sprintf("repeats %s[%d]", path, j)}
		}
		seen[id] = i
		out = append(out, t)
	}
	return out, nil
}

// validateAlerts checks a plan's default thresholds (catalogue validation).
func (c *Catalog) validateAlerts(v *validator, path string, pl *Plan) {
	if len(pl.Alerts) == 0 {
		return
	}
	ths, err := c.ValidateThresholds(path+".alerts", pl.Alerts)
	if err != nil {
		var te *ThresholdError
		if errors.As(err, &te) {
			v.add(te.Field, "%s", te.Message)
		}
		return
	}
	pl.Alerts = ths
}

// AlertThreshold is a threshold as it applies to a tenant in a period: a
// percent one expanded per metered limit and turned into the quantity at
// which it is reached.
type AlertThreshold struct {
	ID        string
	Threshold Threshold
	// Meter is "" for a subtotal threshold.
	Meter string
	// Value is the meter quantity or the subtotal at which it is reached.
	Value decimal.Decimal
	// Limit is the limit a percent threshold is a share of.
	Limit *decimal.Decimal
}

// ResolveThresholds expands ths for a tenant under plan and overrides:
// quantity and subtotal thresholds as they are, a percent threshold for its
// meter's limit (or, without a meter, for each meter with a limit: meters in
// the order given). A percent threshold whose meter has no limit (none,
// lifted, 0 or denied) applies to nothing. Ids are unique in the result.
func ResolveThresholds(ths []Threshold, plan *Plan, overrides Overrides, meters []string) []AlertThreshold {
	var out []AlertThreshold
	seen := map[string]bool{}
	add := func(a AlertThreshold) {
		if !seen[a.ID] {
			seen[a.ID] = true
			out = append(out, a)
		}
	}
	percent := func(t Threshold, meter string) {
		e, ok := MeterFeature(plan, overrides, meter)
		if !ok || !e.Allowed || e.Unlimited || !e.Limit.IsPositive() {
			return
		}
		lim := e.Limit
		pc := *t.PercentOfLimit
		tt := t
		tt.Meter = meter
		add(AlertThreshold{ID: tt.ID(), Threshold: tt, Meter: meter, Limit: &lim,
			Value: lim.Mul(decimal.NewFromInt(int64(pc))).Div(decimal.NewFromInt(100))})
	}
	for _, t := range ths {
		switch t.Kind() {
		case ThresholdQuantity:
			q, err := decimal.NewFromString(t.Quantity)
			if err == nil {
				add(AlertThreshold{ID: t.ID(), Threshold: t, Meter: t.Meter, Value: q})
			}
		case ThresholdSubtotal:
			s, err := decimal.NewFromString(t.Subtotal)
			if err == nil {
				add(AlertThreshold{ID: t.ID(), Threshold: t, Value: s})
			}
		case ThresholdPercent:
			if t.Meter != "" {
				percent(t, t.Meter)
				continue
			}
			for _, m := range meters {
				percent(t, m)
			}
		}
	}
	return out
}

// Reached reports whether value reaches the threshold (a value of 0 never does).
func (a AlertThreshold) Reached(value decimal.Decimal) bool {
	return value.IsPositive() && value.GreaterThanOrEqual(a.Value)
}

// TypeAlertsConfigured is the stable type name of a tenant's alert
// configuration; TypeThresholdReached of a threshold reached in a period. Never rename.
const (
	TypeAlertsConfigured = "alerts.configured"
	TypeThresholdReached = "usage.threshold_reached"
)

// AlertsStreamID and AlertsStreamType name the tenant's stream of alert
// configurations (the latest replaces the ones before).
const (
	AlertsStreamID   = "alerts"
	AlertsStreamType = "alerts"
)

// ThresholdStreamType is the stream type of ThresholdStreamID.
const ThresholdStreamType = "threshold_reached"

// ThresholdStreamID is the stream that holds the one usage.threshold_reached
// of a threshold in a period (appended at "no stream", so once).
func ThresholdStreamID(p Period, thresholdID string) string {
	return "alert-" + p.String() + "-" + thresholdID
}

// AlertsConfigured is a tenant admin's alert configuration: it replaces the
// previous one whole. With it the plan's default thresholds no longer apply.
type AlertsConfigured struct {
	Thresholds []Threshold `json:"thresholds"`
	// SpendCap, when set, refuses metered actions that would take the
	// period's running subtotal past it.
	SpendCap *string   `json:"spend_cap,omitempty"`
	At       time.Time `json:"at"`
}

// ThresholdReached records that a threshold was reached in a period, with
// the value that reached it.
type ThresholdReached struct {
	ThresholdID string    `json:"threshold_id"`
	Threshold   Threshold `json:"threshold"`
	Kind        string    `json:"kind"`
	Meter       string    `json:"meter,omitempty"`
	// Value is the quantity or subtotal at which the threshold is reached;
	// Limit the limit a percent threshold is a share of.
	Value decimal.Decimal  `json:"value"`
	Limit *decimal.Decimal `json:"limit,omitempty"`
	// Reached is the meter total or subtotal that reached it.
	Reached decimal.Decimal `json:"reached"`
	// Currency is set for a subtotal threshold.
	Currency string  `json:"currency,omitempty"`
	Period   Period  `json:"period"`
	Plan     PlanRef `json:"plan"`
	// Source is where the threshold came from: "tenant" or "plan".
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// AlertConfig is a tenant's folded alert configuration.
type AlertConfig struct {
	// Set is true once the tenant configured alerts (the plan's defaults no longer apply).
	Set        bool
	Thresholds []Threshold
	SpendCap   *decimal.Decimal
	Version    int64
	At         time.Time
}

// Apply folds one configuration: it replaces what was there.
func (c *AlertConfig) Apply(version int64, e *AlertsConfigured) {
	*c = AlertConfig{Set: true, Thresholds: e.Thresholds, Version: version, At: e.At}
	if e.SpendCap != nil {
		if d, err := decimal.NewFromString(*e.SpendCap); err == nil {
			c.SpendCap = &d
		}
	}
}

// Effective is the thresholds that apply under plan: the tenant's, once it
// configured any (even none), else the plan's defaults; and where they come from.
func (c AlertConfig) Effective(plan *Plan) ([]Threshold, string) {
	if c.Set {
		return c.Thresholds, "tenant"
	}
	return plan.Alerts, "plan"
}

// SortedMeterIDs lists the catalogue's meters by id (the order percent
// thresholds without a meter expand in).
func (c *Catalog) SortedMeterIDs() []string {
	out := make([]string, 0, len(c.meters))
	for id := range c.meters {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// PricesMeter reports whether the plan has a price for meter.
func (p *Plan) PricesMeter(meter string) bool { return p.pricedMeter(meter) }
