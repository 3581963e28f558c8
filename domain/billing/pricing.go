package billing

import (
	"github.com/shopspring/decimal"
)

// TierCharge is the charge of one tier reached by a graduated or volume price.
// Amount is exact; only the line amount is rounded.
type TierCharge struct {
	Tier      int             `json:"tier"`
	Units     decimal.Decimal `json:"units"`
	UnitPrice decimal.Decimal `json:"unit_price"`
	FlatFee   decimal.Decimal `json:"flat_fee"`
	Amount    decimal.Decimal `json:"amount"`
}

// Charge is the exact (unrounded) price of a quantity under one Price.
type Charge struct {
	// Billable is the quantity priced after included or free units and transform_quantity.
	Billable  decimal.Decimal
	UnitPrice *decimal.Decimal
	Tiers     []TierCharge
	Amount    decimal.Decimal
}

// Price computes the exact charge of quantity q. The order is: included units
// (or a package's free units) come off first, in the meter's own units; then
// transform_quantity divides and rounds; then the model prices what is left.
func (p *Price) Price(q decimal.Decimal) Charge {
	if p.IncludedUnits != nil {
		q = decimal.Max(decimal.Zero, q.Sub(*p.IncludedUnits))
	}
	if p.FreeUnits != nil {
		q = decimal.Max(decimal.Zero, q.Sub(*p.FreeUnits))
	}
	if t := p.TransformQuantity; t != nil {
		// Exact: QuoRem-based DivRound at 0 places would round half, so take the
		// integer quotient and adjust by the remainder's sign instead.
		quo, rem := q.QuoRem(t.DivideBy, 0)
		if t.Round == "up" && rem.IsPositive() {
			quo = quo.Add(decimal.NewFromInt(1))
		}
		q = quo
	}
	c := Charge{Billable: q, Amount: decimal.Zero}
	switch p.Model {
	case ModelPerUnit:
		up := *p.UnitPrice
		c.UnitPrice = &up
		c.Amount = q.Mul(up)
	case ModelGraduated:
		c.Tiers, c.Amount = graduated(p.Tiers, q)
	case ModelVolume:
		c.Tiers, c.Amount = volume(p.Tiers, q)
	case ModelPackage:
		// Whole packages: a started package is charged in full; zero usage charges nothing.
		quo, rem := q.QuoRem(*p.PackageSize, 0)
		if rem.IsPositive() {
			quo = quo.Add(decimal.NewFromInt(1))
		}
		c.Billable = quo
		up := *p.PackagePrice
		c.UnitPrice = &up
		c.Amount = quo.Mul(up)
	}
	return c
}

// graduated prices each tier's slice at its own price and adds the flat fee of
// every tier the quantity reaches (a tier is reached when q exceeds its lower bound).
func graduated(tiers []Tier, q decimal.Decimal) ([]TierCharge, decimal.Decimal) {
	var out []TierCharge
	total := decimal.Zero
	lower := decimal.Zero
	for i, t := range tiers {
		if !q.GreaterThan(lower) {
			break
		}
		upper := q
		if t.UpTo != nil && t.UpTo.LessThan(q) {
			upper = *t.UpTo
		}
		units := upper.Sub(lower)
		amt := units.Mul(t.UnitPrice).Add(t.FlatFee)
		out = append(out, TierCharge{Tier: i + 1, Units: units, UnitPrice: t.UnitPrice, FlatFee: t.FlatFee, Amount: amt})
		total = total.Add(amt)
		if t.UpTo == nil {
			break
		}
		lower = *t.UpTo
	}
	return out, total
}

// volume prices all units at the tier the total lands in, plus that tier's flat
// fee. Zero usage lands in no tier and charges nothing.
func volume(tiers []Tier, q decimal.Decimal) ([]TierCharge, decimal.Decimal) {
	if !q.IsPositive() {
		return nil, decimal.Zero
	}
	for i, t := range tiers {
		if t.UpTo == nil || !q.GreaterThan(*t.UpTo) {
			amt := q.Mul(t.UnitPrice).Add(t.FlatFee)
			return []TierCharge{{Tier: i + 1, Units: q, UnitPrice: t.UnitPrice, FlatFee: t.FlatFee, Amount: amt}}, amt
		}
	}
	return nil, decimal.Zero // unreachable for a validated catalogue: the last tier is open
}
