package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/shopspring/decimal"
)

// Aggregation is how a meter folds a period's usage into one quantity.
type Aggregation string

// The aggregations. count counts occurrences, sum adds quantities, max keeps the
// peak (a gauge such as storage_bytes), latest keeps the last value by occurred_at,
// unique_count counts distinct values of one usage property.
const (
	AggCount       Aggregation = "count"
	AggSum         Aggregation = "sum"
	AggMax         Aggregation = "max"
	AggLatest      Aggregation = "latest"
	AggUniqueCount Aggregation = "unique_count"
)

// Model is a pricing model of one meter's price.
type Model string

// The pricing models.
const (
	ModelPerUnit   Model = "per_unit"
	ModelGraduated Model = "graduated"
	ModelVolume    Model = "volume"
	ModelPackage   Model = "package"
)

// Timing says when a plan's base fee is billed.
type Timing string

// The base-fee timings.
const (
	TimingArrears Timing = "arrears"
	TimingAdvance Timing = "advance"
)

// The built-in meters always exist, so the platform can meter every tenant
// whatever catalogue is loaded.
const (
	MeterAPIRequests  = "api_requests"
	MeterItemWrites   = "item_writes"
	MeterStorageBytes = "storage_bytes"
)

// BuiltinMeters returns the meters every catalogue has even when it does not declare them.
func BuiltinMeters() []Meter {
	return []Meter{
		{ID: MeterAPIRequests, Aggregation: AggCount},
		{ID: MeterItemWrites, Aggregation: AggCount},
		{ID: MeterStorageBytes, Aggregation: AggMax},
	}
}

// Catalog is the plan catalogue: one currency, the meters, the plans.
type Catalog struct {
	Currency string  `json:"currency"`
	Meters   []Meter `json:"meters,omitempty"`
	Plans    []Plan  `json:"plans"`

	minor  int32
	meters map[string]Meter
	plans  map[string]int
}

// Meter is a usage dimension and how it aggregates.
type Meter struct {
	ID          string      `json:"id"`
	Name        string      `json:"name,omitempty"`
	Aggregation Aggregation `json:"aggregation"`
	// Property is the usage property whose distinct values unique_count counts.
	Property string `json:"property,omitempty"`
}

// Plan is a base fee and a set of meter prices.
type Plan struct {
	ID            string           `json:"id"`
	Name          string           `json:"name,omitempty"`
	BaseFee       decimal.Decimal  `json:"base_fee"`
	BaseFeeTiming Timing           `json:"base_fee_timing,omitempty"`
	Prices        []Price          `json:"prices,omitempty"`
	MinimumCharge *decimal.Decimal `json:"minimum_charge,omitempty"`
	// Features are the plan's entitlements (entitlements.go).
	Features   Features    `json:"features,omitempty"`
	RateLimits *RateLimits `json:"rate_limits,omitempty"` // ratelimits.go
	// Alerts are the plan's default alert thresholds (alerts.go); a tenant's
	// own configuration replaces them.
	Alerts []Threshold `json:"alerts,omitempty"`
}

// Price prices one meter under one model. Only the fields of its model may be set.
type Price struct {
	Meter             string             `json:"meter"`
	Model             Model              `json:"model"`
	UnitPrice         *decimal.Decimal   `json:"unit_price,omitempty"`
	IncludedUnits     *decimal.Decimal   `json:"included_units,omitempty"`
	Tiers             []Tier             `json:"tiers,omitempty"`
	PackageSize       *decimal.Decimal   `json:"package_size,omitempty"`
	PackagePrice      *decimal.Decimal   `json:"package_price,omitempty"`
	FreeUnits         *decimal.Decimal   `json:"free_units,omitempty"`
	TransformQuantity *TransformQuantity `json:"transform_quantity,omitempty"`
}

// Tier is one tier of a graduated or volume price. UpTo is inclusive; the last tier has none.
type Tier struct {
	UpTo      *decimal.Decimal `json:"up_to,omitempty"`
	UnitPrice decimal.Decimal  `json:"unit_price"`
	FlatFee   decimal.Decimal  `json:"flat_fee"`
}

// TransformQuantity divides the quantity and rounds it before pricing, as Stripe's does.
type TransformQuantity struct {
	DivideBy decimal.Decimal `json:"divide_by"`
	Round    string          `json:"round"`
}

// MinorUnits returns the catalogue currency's minor-unit digits.
func (c *Catalog) MinorUnits() int32 { return c.minor }

// Meter returns a meter by id, built-in meters included.
func (c *Catalog) Meter(id string) (Meter, bool) {
	m, ok := c.meters[id]
	return m, ok
}

// AllMeters returns every meter, built-ins first, then the declared ones in order.
func (c *Catalog) AllMeters() []Meter {
	out := BuiltinMeters()
	for _, m := range c.Meters {
		if !isBuiltin(m.ID) {
			out = append(out, m)
		}
	}
	return out
}

// Plan returns a plan by id.
func (c *Catalog) Plan(id string) (*Plan, error) {
	i, ok := c.plans[id]
	if !ok {
		return nil, fmt.Errorf("plan %q: %w", id, ErrUnknownPlan)
	}
	return &c.Plans[i], nil
}

// Timing returns the plan's base-fee timing, arrears unless set.
func (p *Plan) Timing() Timing {
	if p.BaseFeeTiming == "" {
		return TimingArrears
	}
	return p.BaseFeeTiming
}

func isBuiltin(id string) bool {
	return id == MeterAPIRequests || id == MeterItemWrites || id == MeterStorageBytes
}

// Limits keep a hostile catalogue from costing unbounded memory or time.
const (
	maxCatalogBytes = 1 << 20
	maxTiers        = 100
	maxIDLen        = 64
	maxDigits       = 40
)

// ParseCatalog decodes a JSON catalogue strictly (unknown fields are rejected) and
// validates it. Validation errors are *FieldError values (joined when several),
// each naming the field path, and all match ErrInvalidCatalog.
func ParseCatalog(data []byte) (*Catalog, error) {
	if len(data) > maxCatalogBytes {
		return nil, fmt.Errorf("parse catalogue: %w: larger than %d bytes", ErrInvalidCatalog, maxCatalogBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse catalogue: %w: %w", ErrInvalidCatalog, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse catalogue: %w: trailing data after the catalogue", ErrInvalidCatalog)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("parse catalogue: %w", err)
	}
	return &c, nil
}

type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) decimal(path string, d *decimal.Decimal, positive bool, scale int32) bool {
	if d == nil {
		return true
	}
	if d.NumDigits() > maxDigits || d.Exponent() > maxDigits || d.Exponent() < -maxDigits {
		v.add(path, "has too many digits")
		return false
	}
	switch {
	case d.IsNegative():
		v.add(path, "must not be negative")
		return false
	case positive && d.IsZero():
		v.add(path, "must be greater than zero")
		return false
	case !d.Equal(d.Truncate(scale)):
		v.add(path, "must have at most %d decimal places", scale)
		return false
	}
	return true
}

func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (c *Catalog) validate() error {
	v := &validator{}
	if minor, err := MinorUnits(c.Currency); err != nil {
		v.add("currency", "%q is not a supported ISO 4217 currency code", c.Currency)
	} else {
		c.minor = minor
	}

	c.meters = map[string]Meter{}
	for _, m := range BuiltinMeters() {
		c.meters[m.ID] = m
	}
	declared := map[string]bool{}
	for i, m := range c.Meters {
		p := fmt.Sprintf("meters[%d]", i)
		if !validID(m.ID) {
			v.add(p+".id", "must be 1-%d characters of a-z 0-9 _ - .", maxIDLen)
			continue
		}
		if declared[m.ID] {
			v.add(p+".id", "duplicate meter %q", m.ID)
			continue
		}
		declared[m.ID] = true
		switch m.Aggregation {
		case AggCount, AggSum, AggMax, AggLatest:
			if m.Property != "" {
				v.add(p+".property", "is only allowed with aggregation unique_count")
			}
		case AggUniqueCount:
			if m.Property == "" {
				v.add(p+".property", "is required with aggregation unique_count")
			}
		default:
			v.add(p+".aggregation", "must be one of count, sum, max, latest, unique_count")
			continue
		}
		if b, ok := c.meters[m.ID]; ok && isBuiltin(m.ID) && (b.Aggregation != m.Aggregation || m.Property != "") {
			v.add(p+".aggregation", "built-in meter %q aggregates by %s and cannot be redefined", m.ID, b.Aggregation)
			continue
		}
		c.meters[m.ID] = m
	}

	if len(c.Plans) == 0 {
		v.add("plans", "must declare at least one plan")
	}
	c.plans = map[string]int{}
	for i := range c.Plans {
		pl := &c.Plans[i]
		p := fmt.Sprintf("plans[%d]", i)
		if !validID(pl.ID) {
			v.add(p+".id", "must be 1-%d characters of a-z 0-9 _ - .", maxIDLen)
		} else if _, dup := c.plans[pl.ID]; dup {
			v.add(p+".id", "duplicate plan %q", pl.ID)
		} else {
			c.plans[pl.ID] = i
		}
		v.decimal(p+".base_fee", &pl.BaseFee, false, maxPriceScale)
		switch pl.BaseFeeTiming {
		case "", TimingArrears, TimingAdvance:
		default:
			v.add(p+".base_fee_timing", "must be arrears or advance")
		}
		v.decimal(p+".minimum_charge", pl.MinimumCharge, false, maxPriceScale)
		priced := map[string]bool{}
		for j := range pl.Prices {
			c.validatePrice(v, fmt.Sprintf("%s.prices[%d]", p, j), &pl.Prices[j], priced)
		}
		c.validateFeatures(v, p, pl)
		pl.RateLimits.validate(v, p+".rate_limits")
		c.validateAlerts(v, p, pl)
	}
	return errors.Join(v.errs...)
}

func (c *Catalog) validatePrice(v *validator, p string, pr *Price, priced map[string]bool) {
	if _, ok := c.meters[pr.Meter]; !ok {
		v.add(p+".meter", "unknown meter %q (declare it under meters)", pr.Meter)
	} else if priced[pr.Meter] {
		v.add(p+".meter", "meter %q is priced twice in this plan", pr.Meter)
	}
	priced[pr.Meter] = true

	forbid := func(field string, set bool) {
		if set {
			v.add(p+"."+field, "is not allowed with model %s", pr.Model)
		}
	}
	switch pr.Model {
	case ModelPerUnit:
		if pr.UnitPrice == nil {
			v.add(p+".unit_price", "is required with model per_unit")
		}
		forbid("tiers", pr.Tiers != nil)
		forbid("package_size", pr.PackageSize != nil)
		forbid("package_price", pr.PackagePrice != nil)
		forbid("free_units", pr.FreeUnits != nil)
	case ModelGraduated, ModelVolume:
		forbid("unit_price", pr.UnitPrice != nil)
		forbid("package_size", pr.PackageSize != nil)
		forbid("package_price", pr.PackagePrice != nil)
		forbid("free_units", pr.FreeUnits != nil)
		c.validateTiers(v, p, pr.Tiers)
	case ModelPackage:
		if pr.PackageSize == nil {
			v.add(p+".package_size", "is required with model package")
		}
		if pr.PackagePrice == nil {
			v.add(p+".package_price", "is required with model package")
		}
		forbid("unit_price", pr.UnitPrice != nil)
		forbid("included_units", pr.IncludedUnits != nil)
		forbid("tiers", pr.Tiers != nil)
	default:
		v.add(p+".model", "must be one of per_unit, graduated, volume, package")
	}
	v.decimal(p+".unit_price", pr.UnitPrice, false, maxPriceScale)
	v.decimal(p+".included_units", pr.IncludedUnits, false, maxPriceScale)
	v.decimal(p+".package_size", pr.PackageSize, true, maxPriceScale)
	v.decimal(p+".package_price", pr.PackagePrice, false, maxPriceScale)
	v.decimal(p+".free_units", pr.FreeUnits, false, maxPriceScale)
	if t := pr.TransformQuantity; t != nil {
		v.decimal(p+".transform_quantity.divide_by", &t.DivideBy, true, maxPriceScale)
		if t.Round != "up" && t.Round != "down" {
			v.add(p+".transform_quantity.round", "must be up or down")
		}
	}
}

func (c *Catalog) validateTiers(v *validator, p string, tiers []Tier) {
	if len(tiers) == 0 {
		v.add(p+".tiers", "must have at least one tier")
		return
	}
	if len(tiers) > maxTiers {
		v.add(p+".tiers", "must have at most %d tiers", maxTiers)
		return
	}
	var prev *decimal.Decimal
	for k := range tiers {
		t := &tiers[k]
		tp := fmt.Sprintf("%s.tiers[%d]", p, k)
		v.decimal(tp+".unit_price", &t.UnitPrice, false, maxPriceScale)
		v.decimal(tp+".flat_fee", &t.FlatFee, false, maxPriceScale)
		last := k == len(tiers)-1
		switch {
		case last && t.UpTo != nil:
			v.add(tp+".up_to", "must be absent on the last tier, which has no upper bound")
		case !last && t.UpTo == nil:
			v.add(tp+".up_to", "is required on every tier but the last")
		case t.UpTo != nil:
			if !v.decimal(tp+".up_to", t.UpTo, true, maxPriceScale) {
				continue
			}
			if prev != nil && !t.UpTo.GreaterThan(*prev) {
				v.add(tp+".up_to", "must be greater than the previous tier's")
			}
			prev = t.UpTo
		}
	}
}
