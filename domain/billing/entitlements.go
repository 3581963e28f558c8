package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// FeatureKind is what a plan's feature declares: a switch, a number, or a
// limit on a meter's usage in the billing period.
type FeatureKind string

// The feature kinds. A boolean feature is written `sso: true`, a numeric one
// `seats: 5`, a metered one `item_writes: {limit: 100000, period: month,
// on_exceed: block}` (docs/billing.md, "Entitlements").
const (
	FeatureBoolean FeatureKind = "boolean"
	FeatureNumeric FeatureKind = "numeric"
	FeatureMetered FeatureKind = "metered"
)

// OnExceed is what a metered feature does once the period's usage reaches its limit.
type OnExceed string

// The on_exceed policies: block refuses the metered action, notify lets it
// through and notifies once per period, overage lets it through and bills it
// with the plan's price for the meter.
const (
	ExceedBlock   OnExceed = "block"
	ExceedNotify  OnExceed = "notify"
	ExceedOverage OnExceed = "overage"
)

// FeatureSeats is the numeric feature that limits a tenant's users and pending invitations.
const FeatureSeats = "seats"

// PeriodMonth is the one period a metered feature may have: the billing period.
const PeriodMonth = "month"

// maxFeatures bounds the features of one plan.
const maxFeatures = 100

// Feature is one entitlement of a plan. Its JSON is its catalogue form, which
// is also its canonical form: a plan's version changes when a feature does.
type Feature struct {
	Kind FeatureKind
	// Enabled is a boolean feature's value.
	Enabled bool
	// Limit is a numeric feature's value or a metered feature's limit per period.
	Limit decimal.Decimal
	// Meter is the meter a metered feature limits (its own name unless set).
	Meter    string
	Period   string
	OnExceed OnExceed

	err error // what was wrong with the catalogue's value, reported by validate with its path
}

// meteredJSON is a metered feature's object form.
type meteredJSON struct {
	Meter    string          `json:"meter,omitempty"`
	Limit    decimal.Decimal `json:"limit"`
	Period   string          `json:"period,omitempty"`
	OnExceed OnExceed        `json:"on_exceed"`
}

// UnmarshalJSON reads a feature's value: true/false, a number, or an object.
// It never fails: a malformed value is reported by the catalogue's validation,
// which knows the feature's path.
func (f *Feature) UnmarshalJSON(b []byte) error {
	*f = Feature{}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		f.err = errors.New("must be true, false, a number or an object")
	case string(b) == "true" || string(b) == "false":
		f.Kind, f.Enabled = FeatureBoolean, string(b) == "true"
	case b[0] == '{':
		var m struct {
			Meter    string          `json:"meter"`
			Limit    json.RawMessage `json:"limit"`
			Period   string          `json:"period"`
			OnExceed OnExceed        `json:"on_exceed"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			f.err = fmt.Errorf("a metered feature is {limit, period, on_exceed[, meter]}: %v", err)
			return nil
		}
		f.Kind, f.Meter, f.Period, f.OnExceed = FeatureMetered, m.Meter, m.Period, m.OnExceed
		if len(m.Limit) == 0 {
			f.err = errors.New("limit is required")
			return nil
		}
		lim, err := parseLimit(m.Limit)
		if err != nil {
			f.err = fmt.Errorf("limit %w", err)
			return nil
		}
		f.Limit = lim
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9' || b[0] == '"':
		lim, err := parseLimit(b)
		if err != nil {
			f.err = err
			return nil
		}
		f.Kind, f.Limit = FeatureNumeric, lim
	default:
		f.err = errors.New("must be true, false, a number or an object")
	}
	return nil
}

func parseLimit(b []byte) (decimal.Decimal, error) {
	var d decimal.Decimal
	if err := d.UnmarshalJSON(b); err != nil {
		return decimal.Zero, errors.New("must be a non-negative number")
	}
	return d, nil
}

// MarshalJSON writes the feature's canonical form: decimals in their shortest
// form and a metered feature's defaults (meter, period) spelt out, so two
// catalogues that mean the same plan publish no new version.
func (f Feature) MarshalJSON() ([]byte, error) {
	switch f.Kind {
	case FeatureBoolean:
		return json.Marshal(f.Enabled)
	case FeatureNumeric:
		return []byte(f.Limit.String()), nil
	case FeatureMetered:
		return json.Marshal(meteredJSON{Meter: f.Meter, Limit: f.Limit, Period: f.Period, OnExceed: f.OnExceed})
	}
	return nil, fmt.Errorf("feature of kind %q", f.Kind)
}

// Features are a plan's entitlements by feature name.
type Features map[string]Feature

// Feature returns a plan's feature by name.
func (p *Plan) Feature(name string) (Feature, bool) {
	f, ok := p.Features[name]
	return f, ok
}

// MeteredFeature returns the name and definition of the plan's metered feature on meter, if any.
func (p *Plan) MeteredFeature(meter string) (string, Feature, bool) {
	for name, f := range p.Features {
		if f.Kind == FeatureMetered && f.Meter == meter {
			return name, f, true
		}
	}
	return "", Feature{}, false
}

// ValidFeatureName reports whether name can name a feature: 1-64 of a-z 0-9 _ - .
func ValidFeatureName(name string) bool { return validID(name) }

func (p *Plan) pricedMeter(meter string) bool {
	for _, pr := range p.Prices {
		if pr.Meter == meter {
			return true
		}
	}
	return false
}

// validateFeatures checks a plan's features and normalizes metered ones
// (meter and period defaults), so the canonical JSON spells them out.
func (c *Catalog) validateFeatures(v *validator, path string, pl *Plan) {
	if len(pl.Features) > maxFeatures {
		v.add(path+".features", "must have at most %d features", maxFeatures)
		return
	}
	names := make([]string, 0, len(pl.Features))
	for name := range pl.Features {
		names = append(names, name)
	}
	sort.Strings(names)
	meters := map[string]string{}
	for _, name := range names {
		f := pl.Features[name]
		p := path + ".features." + name
		if !validID(name) {
			v.add(path+".features", "feature name %q must be 1-%d characters of a-z 0-9 _ - .", name, maxIDLen)
			continue
		}
		if f.err != nil {
			v.add(p, "%v", f.err)
			continue
		}
		if f.Kind != FeatureBoolean && !v.decimal(p+limitSuffix(f), &f.Limit, false, maxPriceScale) {
			continue
		}
		switch f.Kind {
		case FeatureNumeric:
			if !f.Limit.Equal(f.Limit.Truncate(0)) {
				v.add(p, "must be a whole number")
			}
		case FeatureMetered:
			if f.Meter == "" {
				f.Meter = name
			}
			if f.Period == "" {
				f.Period = PeriodMonth
			}
			if _, ok := c.meters[f.Meter]; !ok {
				field := p + ".meter"
				if f.Meter == name {
					field = p
				}
				v.add(field, "unknown meter %q: a metered feature limits a meter of the catalogue (name it with meter:)", f.Meter)
				continue
			}
			if other, dup := meters[f.Meter]; dup {
				v.add(p+".meter", "meter %q is limited by feature %q already", f.Meter, other)
				continue
			}
			meters[f.Meter] = name
			if f.Period != PeriodMonth {
				v.add(p+".period", "must be month (the billing period; limits reset when it does), not %q", f.Period)
			}
			switch f.OnExceed {
			case ExceedBlock:
				if f.Meter == MeterAPIRequests || f.Meter == MeterStorageBytes {
					v.add(p+".on_exceed", "block cannot be enforced on %s (only item_writes and reported meters): use notify or overage", f.Meter)
				}
			case ExceedNotify:
			case ExceedOverage:
				if !pl.pricedMeter(f.Meter) {
					v.add(p+".on_exceed", "overage bills %s with the plan's price, and the plan has no price for it", f.Meter)
				}
			case "":
				v.add(p+".on_exceed", "is required: block, notify or overage")
			default:
				v.add(p+".on_exceed", "must be block, notify or overage, not %q", f.OnExceed)
			}
		}
		if name == FeatureSeats && f.Kind != FeatureNumeric {
			v.add(p, "seats is the number of users and pending invitations: a whole number")
		}
		pl.Features[name] = f
	}
}

func limitSuffix(f Feature) string {
	if f.Kind == FeatureMetered {
		return ".limit"
	}
	return ""
}

// OverrideAction is what an operator's override does to one feature of one tenant.
type OverrideAction string

// The override actions: allow grants the feature (a boolean true, a limit
// lifted), deny withholds it (a boolean false, a limit of 0, a metered action
// refused whatever its on_exceed), limit sets the limit, clear removes the
// override so the plan decides again.
const (
	OverrideAllow OverrideAction = "allow"
	OverrideDeny  OverrideAction = "deny"
	OverrideLimit OverrideAction = "limit"
	OverrideClear OverrideAction = "clear"
)

// TypeEntitlementOverridden is the stable type name of an operator's override. Never rename.
const TypeEntitlementOverridden = "entitlement.overridden"

// TypeLimitPassed is the stable type name of a notify feature's usage
// passing its limit, once per feature and period. Never rename.
const TypeLimitPassed = "entitlement.limit_passed"

// EntitlementsStreamID and EntitlementsStreamType name the tenant's stream of
// overrides. A stream of its own, not the profile: plan segments and the
// tenants projection fold the profile, and an override changes neither.
const (
	EntitlementsStreamID   = "entitlements"
	EntitlementsStreamType = "entitlements"
)

// LimitPassedStreamID is the stream that holds a feature's one
// entitlement.limit_passed of a period (appended at "no stream", so once).
func LimitPassedStreamID(feature string, p Period) string {
	return "limit-passed-" + feature + "-" + p.String()
}

// LimitPassedStreamType is the stream type of LimitPassedStreamID.
const LimitPassedStreamType = "limit_passed"

// EntitlementOverridden is an operator's override of one feature for one
// tenant; the envelope's actor is the operator.
type EntitlementOverridden struct {
	Feature string           `json:"feature"`
	Action  OverrideAction   `json:"action"`
	Limit   *decimal.Decimal `json:"limit,omitempty"`
	Reason  string           `json:"reason"`
	At      time.Time        `json:"at"`
}

// LimitPassed records that a notify feature's usage reached its limit in a period.
type LimitPassed struct {
	Feature string          `json:"feature"`
	Meter   string          `json:"meter"`
	Period  Period          `json:"period"`
	Limit   decimal.Decimal `json:"limit"`
	Used    decimal.Decimal `json:"used"`
	Plan    PlanRef         `json:"plan"`
	At      time.Time       `json:"at"`
}

// Override is the folded state of one feature's override.
type Override struct {
	Action OverrideAction
	Limit  decimal.Decimal
}

// Overrides folds a tenant's override events: the latest per feature, none once cleared.
type Overrides map[string]Override

// Apply folds one override.
func (o Overrides) Apply(e *EntitlementOverridden) {
	if e.Action == OverrideClear {
		delete(o, e.Feature)
		return
	}
	ov := Override{Action: e.Action}
	if e.Limit != nil {
		ov.Limit = *e.Limit
	}
	o[e.Feature] = ov
}

// ValidateOverride checks an override before it is recorded.
func ValidateOverride(e *EntitlementOverridden) error {
	var errs []string
	if !validID(e.Feature) {
		errs = append(errs, fmt.Sprintf("feature must be 1-%d characters of a-z 0-9 _ - .", maxIDLen))
	}
	switch e.Action {
	case OverrideLimit:
		if e.Limit == nil || e.Limit.IsNegative() || e.Limit.NumDigits() > maxDigits || !e.Limit.Equal(e.Limit.Truncate(maxPriceScale)) {
			errs = append(errs, "limit must be a non-negative number with at most 12 decimal places")
		}
	case OverrideAllow, OverrideDeny, OverrideClear:
		if e.Limit != nil {
			errs = append(errs, fmt.Sprintf("%s takes no limit", e.Action))
		}
	default:
		errs = append(errs, "action must be allow, deny, limit or clear")
	}
	if r := strings.TrimSpace(e.Reason); r == "" || len(e.Reason) > 500 {
		errs = append(errs, "a reason of 1-500 characters is required")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Effective is one feature as it applies to a tenant: its plan version's
// definition with the tenant's override on top.
type Effective struct {
	Name string
	Kind FeatureKind
	// Allowed is false for a boolean feature that is off or a denied feature.
	Allowed bool
	// Unlimited: no limit applies (a metered or numeric feature allowed by an
	// override, or a meter the plan does not limit).
	Unlimited bool
	Limit     decimal.Decimal
	Meter     string
	OnExceed  OnExceed
}

// Resolve is the tenant's feature name under plan with overrides, and whether
// either names it. A meter name the plan does not limit resolves to an
// unlimited metered feature only when asked for by meter (MeterFeature).
func Resolve(plan *Plan, overrides Overrides, name string) (Effective, bool) {
	f, inPlan := plan.Feature(name)
	ov, overridden := overrides[name]
	if !inPlan && !overridden {
		return Effective{}, false
	}
	e := Effective{Name: name, Kind: f.Kind, Allowed: true, Limit: f.Limit, Meter: f.Meter, OnExceed: f.OnExceed}
	if !inPlan {
		e.Kind = FeatureBoolean
		if ov.Action == OverrideLimit {
			e.Kind = FeatureNumeric
		}
	}
	if e.Kind == FeatureBoolean {
		e.Allowed = f.Enabled
	}
	switch ov.Action {
	case OverrideAllow:
		e.Allowed, e.Unlimited = true, e.Kind != FeatureBoolean
	case OverrideDeny:
		e.Allowed, e.Limit = false, decimal.Zero
	case OverrideLimit:
		if e.Kind == FeatureBoolean {
			e.Kind = FeatureNumeric
		}
		e.Limit, e.Allowed = ov.Limit, true
	}
	return e, true
}

// MeterFeature resolves the feature that limits meter under plan and
// overrides: the plan's metered feature on it, or an override naming the
// meter itself; ok is false when nothing limits the meter.
func MeterFeature(plan *Plan, overrides Overrides, meter string) (Effective, bool) {
	name, _, ok := plan.MeteredFeature(meter)
	if !ok {
		if _, ov := overrides[meter]; !ov {
			return Effective{}, false
		}
		name = meter
	}
	e, _ := Resolve(plan, overrides, name)
	if e.Kind != FeatureMetered {
		// An override on a meter the plan does not limit: a blocking limit.
		e.Kind, e.Meter, e.OnExceed = FeatureMetered, meter, ExceedBlock
	}
	return e, true
}

// Names lists the features a plan and overrides declare, sorted.
func Names(plan *Plan, overrides Overrides) []string {
	seen := map[string]bool{}
	var out []string
	for n := range plan.Features {
		seen[n] = true
		out = append(out, n)
	}
	for n := range overrides {
		if !seen[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Admits reports whether a metered or numeric feature admits usage reaching
// used+more: always for notify and overage (unless denied), and for block
// while used+more stays within the limit.
func (e Effective) Admits(used, more decimal.Decimal) bool {
	if !e.Allowed {
		return false
	}
	if e.Unlimited || e.Kind == FeatureMetered && e.OnExceed != ExceedBlock {
		return true
	}
	return used.Add(more).LessThanOrEqual(e.Limit)
}

// Lifts finds the cheapest plan of cat (by base fee, then catalogue order),
// other than current, under which feature admits usage reaching need, with the
// tenant's overrides applied: "" when none does.
func Lifts(cat *Catalog, current string, overrides Overrides, feature, meter string, need decimal.Decimal) string {
	best := ""
	var bestFee decimal.Decimal
	for i := range cat.Plans {
		pl := &cat.Plans[i]
		if pl.ID == current {
			continue
		}
		var e Effective
		var ok bool
		if meter != "" {
			e, ok = MeterFeature(pl, overrides, meter)
		} else {
			e, ok = Resolve(pl, overrides, feature)
		}
		if ok && !e.Admits(decimal.Zero, need) {
			continue
		}
		if !ok && meter == "" && feature != FeatureSeats {
			continue // a plan without a boolean or numeric feature does not grant it
		}
		if best == "" || pl.BaseFee.LessThan(bestFee) {
			best, bestFee = pl.ID, pl.BaseFee
		}
	}
	return best
}
