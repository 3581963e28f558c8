package billing

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// LineKind classifies an invoice line.
type LineKind string

// The line kinds.
const (
	LineBaseFee    LineKind = "base_fee"
	LineUsage      LineKind = "usage"
	LineMinimum    LineKind = "minimum"
	LineAdjustment LineKind = "adjustment"
)

// PlanSegment is the span [From, To) of a period during which one plan was in force.
type PlanSegment struct {
	Plan string `json:"plan"`
	// Version is the plan version in force (docs/ARCHITECTURE.md, decision 14);
	// 0 in invoices issued before plans had versions, which means version 1.
	Version int       `json:"version,omitempty"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
}

// Ref is the plan version of the segment.
func (s PlanSegment) Ref() PlanRef {
	return PlanRef{Plan: s.Plan, Version: EffectiveVersion(s.Version)}
}

// Line is one invoice line. Amount is rounded to the currency's minor unit; the
// tier breakdown keeps the exact amounts it was computed from.
type Line struct {
	Kind LineKind
	// Segment indexes Invoice.Segments (for an adjustment, the original period's segments).
	Segment int
	Plan    string
	Meter   string
	// Description is for people; nothing parses it.
	Description string
	// Quantity is the meter's aggregated quantity (base fee and minimum: days billed).
	Quantity decimal.Decimal
	// Billable is what the model priced: after included/free units and transform_quantity.
	Billable  decimal.Decimal
	UnitPrice *decimal.Decimal
	Tiers     []TierCharge
	Amount    decimal.Decimal
	// OriginalPeriod names the closed period an adjustment line corrects.
	OriginalPeriod *Period
	// Grant names the credit grant a credit line is paid from.
	Grant string
}

// Invoice is a rated period. Rate returns a draft; the issuer fills in InvoiceID,
// Number, TenantID and IssuedAt. Subtotal is the sum of the rounded line amounts.
type Invoice struct {
	InvoiceID string
	Number    int64
	TenantID  string
	Period    Period
	Currency  string
	Segments  []PlanSegment
	Lines     []Line
	Subtotal  decimal.Decimal
	IssuedAt  time.Time
	// Proration is the rule the invoice was rated under; "" in invoices issued
	// before it was recorded (see ProrationOf).
	Proration Proration
}

// Proration names the rule that gives each UTC day of a period to exactly one
// of its plan segments, which bills the day's share of the base fee and minimum
// (docs/billing.md, "Proration"). An issued invoice records the rule it was
// rated under, so its audit recomputes it under the same rule.
type Proration string

const (
	// ProrationDayEnd gives a day to the plan in force at the day's end (24:00
	// UTC): the day a tenant signs up is billed, and a plan change bills its day
	// once, on the new plan. The rule of every invoice issued now.
	ProrationDayEnd Proration = "day-end"
	// ProrationDayStart gave a day to the plan in force at its first instant
	// (00:00 UTC), so a tenant's first day went unbilled unless it started at
	// midnight. Invoices issued before the rule was recorded were rated so.
	ProrationDayStart Proration = "day-start"
	// CurrentProration is the rule Rate uses.
	CurrentProration = ProrationDayEnd
)

// ProrationOf is the rule an issued invoice records; "" (recorded before rules were)
// is ProrationDayStart.
func ProrationOf(recorded string) (Proration, error) {
	switch r := Proration(recorded); r {
	case "":
		return ProrationDayStart, nil
	case ProrationDayEnd, ProrationDayStart:
		return r, nil
	}
	return "", fmt.Errorf("unknown proration rule %q", recorded)
}

// Days returns how many UTC days a segment bills under the rule. The days of a
// period's contiguous segments add up to the days they cover: every day has one
// start and one end, and exactly one segment holds it.
func (r Proration) Days(s PlanSegment) int {
	from, to := s.From.UTC(), s.To.UTC()
	// The first day boundary the rule counts: the first midnight at or after
	// from (day-start), or strictly after it (day-end: a day whose end is from
	// belongs to the segment before).
	b := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	if b.Before(from) || (r == ProrationDayEnd && b.Equal(from)) {
		b = b.AddDate(0, 0, 1)
	}
	n := 0
	for ; b.Before(to) || (r == ProrationDayEnd && b.Equal(to)); b = b.AddDate(0, 0, 1) {
		n++
	}
	return n
}

// SegmentDays returns how many UTC days a segment bills under CurrentProration.
func SegmentDays(s PlanSegment) int { return CurrentProration.Days(s) }

// SegmentCuts returns the ledger cuts of a period's plan segments: the start of
// every segment but the first.
func SegmentCuts(segs []PlanSegment) []time.Time {
	var cuts []time.Time
	for i := 1; i < len(segs); i++ {
		cuts = append(cuts, segs[i].From.UTC())
	}
	return cuts
}

func checkSegments(cat Plans, p Period, segs []PlanSegment) error {
	if len(segs) == 0 {
		return fmt.Errorf("%w: a period needs at least one segment", ErrInvalidSegments)
	}
	for i, s := range segs {
		if _, err := cat.PlanVersion(s.Plan, s.Version); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		if !s.From.Before(s.To) || s.From.Before(p.Start()) || s.To.After(p.End()) {
			return fmt.Errorf("%w: segment %d [%s, %s) must be non-empty and inside %s", ErrInvalidSegments, i,
				s.From.UTC().Format(time.RFC3339), s.To.UTC().Format(time.RFC3339), p)
		}
		if i > 0 && !segs[i-1].To.Equal(s.From) {
			return fmt.Errorf("%w: segment %d must start where segment %d ends", ErrInvalidSegments, i, i-1)
		}
	}
	return nil
}

// Rate prices a period's ledger under its plan segments: for each segment, the
// plan's base fee prorated by SegmentDays, one usage line per priced meter rated on
// the segment's own usage, and a minimum line that tops the segment up to the
// plan's (prorated) minimum charge. The ledger's cuts must be the segments' starts.
// Each segment is priced with its own plan version (a Catalog holds version 1
// only; a Book every published one).
func Rate(cat Plans, segs []PlanSegment, l *Ledger) (Invoice, error) {
	return RateUnder(CurrentProration, cat, segs, l)
}

// RateUnder is Rate under a given proration rule, for the audit of an invoice
// issued under an earlier one.
func RateUnder(rule Proration, cat Plans, segs []PlanSegment, l *Ledger) (Invoice, error) {
	if err := checkRate(cat, segs, l); err != nil {
		return Invoice{}, err
	}
	return rateQuantities(rule, cat, segs, l.Period(), l.Quantity), nil
}

// checkRate checks that segs are valid for the ledger's period and cut it where the ledger is cut.
func checkRate(cat Plans, segs []PlanSegment, l *Ledger) error {
	p := l.Period()
	if err := checkSegments(cat, p, segs); err != nil {
		return fmt.Errorf("rate %s: %w", p, err)
	}
	cuts := l.Cuts()
	want := SegmentCuts(segs)
	if len(cuts) != len(want) {
		return fmt.Errorf("rate %s: %w: ledger has %d segments, plan has %d", p, ErrInvalidSegments, len(cuts)+1, len(segs))
	}
	for i := range cuts {
		if !cuts[i].Equal(want[i]) {
			return fmt.Errorf("rate %s: %w: ledger segment %d starts at %s, plan segment at %s", p, ErrInvalidSegments,
				i+1, cuts[i].Format(time.RFC3339Nano), want[i].Format(time.RFC3339Nano))
		}
	}
	return nil
}

// rateQuantities rates segments whose quantities quantity gives (segment, meter).
func rateQuantities(rule Proration, cat Plans, segs []PlanSegment, p Period, quantity func(int, string) decimal.Decimal) Invoice {
	inv := Invoice{Period: p, Currency: cat.CurrencyCode(), Segments: segs, Proration: rule}
	for i, s := range segs {
		plan, _ := cat.PlanVersion(s.Plan, s.Version)
		inv.Lines = append(inv.Lines, rateSegment(cat.MinorUnits(), plan, i, rule.Days(s), p.Days(), func(m string) decimal.Decimal {
			return quantity(i, m)
		})...)
	}
	inv.Subtotal = sumLines(inv.Lines)
	return inv
}

// ErrNotAdditive is RateAdding's answer for usage of a meter whose
// aggregation is not a count or a sum: fold it into a copy of the ledger.
var ErrNotAdditive = errors.New("usage of a max, latest or unique_count meter cannot be added to a rating")

// RateAdding is Rate with the usage add folded in, for count and sum meters,
// without copying the ledger: the subtotal an action would leave (a spend
// cap's check). Records the ledger has seen (by ID) or outside its period add
// nothing, as Add would.
func RateAdding(cat Plans, segs []PlanSegment, l *Ledger, add []Usage) (Invoice, error) {
	if err := checkRate(cat, segs, l); err != nil {
		return Invoice{}, err
	}
	extra := make([]map[string]decimal.Decimal, len(l.segments))
	seen := map[string]bool{}
	for _, u := range add {
		m, ok := l.meters[u.Meter]
		if !ok || !l.period.Contains(u.OccurredAt) || u.ID != "" && (l.Seen(u.ID) || seen[u.ID]) {
			continue
		}
		seen[u.ID] = true
		q := u.Quantity
		switch m.Aggregation {
		case AggCount:
			if q.IsZero() {
				q = decimal.NewFromInt(1)
			}
		case AggSum:
		default:
			return Invoice{}, fmt.Errorf("rate %s with %s: %w", l.period, u.Meter, ErrNotAdditive)
		}
		i := l.segmentOf(u.OccurredAt)
		if extra[i] == nil {
			extra[i] = map[string]decimal.Decimal{}
		}
		extra[i][u.Meter] = extra[i][u.Meter].Add(q)
	}
	return rateQuantities(CurrentProration, cat, segs, l.Period(), func(i int, m string) decimal.Decimal {
		return l.Quantity(i, m).Add(extra[i][m])
	}), nil
}

// Quote is the price of a usage over one full period under one plan, for pricing
// design and support; no tenant or ledger is needed.
type Quote struct {
	Currency string
	Lines    []Line
	Subtotal decimal.Decimal
}

// QuotePlan rates usage (meter -> aggregated quantity) over a full period of plan.
func QuotePlan(cat *Catalog, planID string, usage map[string]decimal.Decimal) (Quote, error) {
	plan, err := cat.Plan(planID)
	if err != nil {
		return Quote{}, fmt.Errorf("quote: %w", err)
	}
	for m, q := range usage {
		if _, ok := cat.Meter(m); !ok {
			return Quote{}, fmt.Errorf("quote: meter %q: %w", m, ErrUnknownMeter)
		}
		if q.IsNegative() {
			return Quote{}, fmt.Errorf("quote: meter %q: %w: negative quantity", m, ErrInvalidUsage)
		}
	}
	const days = 30 // any full period: proration factor days/days = 1
	lines := rateSegment(cat.MinorUnits(), plan, 0, days, days, func(m string) decimal.Decimal { return usage[m] })
	return Quote{Currency: cat.Currency, Lines: lines, Subtotal: sumLines(lines)}, nil
}

func sumLines(lines []Line) decimal.Decimal {
	total := decimal.Zero
	for _, ln := range lines {
		total = total.Add(ln.Amount)
	}
	return total
}

// prorate returns amount * days / periodDays rounded to the minor unit half away
// from zero, exactly (no intermediate rounding).
func prorate(amount decimal.Decimal, days, periodDays int, minor int32) decimal.Decimal {
	if days == periodDays {
		return RoundMoney(amount, minor)
	}
	return amount.Mul(decimal.NewFromInt(int64(days))).DivRound(decimal.NewFromInt(int64(periodDays)), minor)
}

func rateSegment(minor int32, plan *Plan, seg, days, periodDays int, quantity func(string) decimal.Decimal) []Line {
	name := plan.Name
	if name == "" {
		name = plan.ID
	}
	var lines []Line
	dq := decimal.NewFromInt(int64(days))
	if !plan.BaseFee.IsZero() {
		lines = append(lines, Line{
			Kind: LineBaseFee, Segment: seg, Plan: plan.ID,
			Description: fmt.Sprintf("%s base fee, %d of %d days, %s", name, days, periodDays, plan.Timing()),
			Quantity:    dq, Billable: dq,
			Amount: prorate(plan.BaseFee, days, periodDays, minor),
		})
	}
	for _, pr := range plan.Prices {
		q := quantity(pr.Meter)
		c := pr.Price(q)
		lines = append(lines, Line{
			Kind: LineUsage, Segment: seg, Plan: plan.ID, Meter: pr.Meter,
			Description: fmt.Sprintf("%s, %s", pr.Meter, pr.Model),
			Quantity:    q, Billable: c.Billable, UnitPrice: c.UnitPrice, Tiers: c.Tiers,
			Amount: RoundMoney(c.Amount, minor),
		})
	}
	if plan.MinimumCharge != nil {
		minimum := prorate(*plan.MinimumCharge, days, periodDays, minor)
		if sub := sumLines(lines); minimum.GreaterThan(sub) {
			lines = append(lines, Line{
				Kind: LineMinimum, Segment: seg, Plan: plan.ID,
				Description: fmt.Sprintf("%s minimum charge %s top-up", name, minimum.StringFixed(minor)),
				Quantity:    dq, Billable: dq,
				Amount: minimum.Sub(sub),
			})
		}
	}
	return lines
}

// RateLateUsage prices usage that arrived after period p was closed: it folds the
// late usage into a copy of the issued ledger, re-rates, and returns one adjustment
// line per line whose quantity or amount changed, naming the original period. The
// issued invoice is never rewritten; the issued amounts plus the adjustments equal
// the re-rated invoice to the cent. It rates under the proration rule the
// period's invoice was issued under. It also returns the updated ledger.
func RateLateUsage(rule Proration, cat Plans, segs []PlanSegment, issued *Ledger, late []Usage) ([]Line, *Ledger, error) {
	p := issued.Period()
	before, err := RateUnder(rule, cat, segs, issued)
	if err != nil {
		return nil, nil, fmt.Errorf("rate late usage %s: %w", p, err)
	}
	updated := issued.Clone()
	for _, u := range late {
		if _, err := updated.Add(u); err != nil {
			return nil, nil, fmt.Errorf("rate late usage %s: %w", p, err)
		}
	}
	after, err := RateUnder(rule, cat, segs, updated)
	if err != nil {
		return nil, nil, fmt.Errorf("rate late usage %s: %w", p, err)
	}
	type key struct {
		kind  LineKind
		seg   int
		meter string
	}
	old := map[key]Line{}
	for _, ln := range before.Lines {
		old[key{ln.Kind, ln.Segment, ln.Meter}] = ln
	}
	var adj []Line
	orig := p
	for _, ln := range after.Lines {
		o := old[key{ln.Kind, ln.Segment, ln.Meter}]
		dq, da := ln.Quantity.Sub(o.Quantity), ln.Amount.Sub(o.Amount)
		if dq.IsZero() && da.IsZero() {
			continue
		}
		what := ln.Meter
		if what == "" {
			what = string(ln.Kind)
		}
		adj = append(adj, Line{
			Kind: LineAdjustment, Segment: ln.Segment, Plan: ln.Plan, Meter: ln.Meter,
			Description: fmt.Sprintf("late usage for %s: %s %s", orig, what, signed(dq)),
			Quantity:    dq, Billable: ln.Billable.Sub(o.Billable), Amount: da, OriginalPeriod: &orig,
		})
	}
	seen := map[key]bool{}
	for _, ln := range after.Lines {
		seen[key{ln.Kind, ln.Segment, ln.Meter}] = true
	}
	for _, o := range before.Lines {
		if seen[key{o.Kind, o.Segment, o.Meter}] {
			continue
		}
		// A line that disappeared (a minimum top-up the late usage now exceeds) is reversed.
		adj = append(adj, Line{
			Kind: LineAdjustment, Segment: o.Segment, Plan: o.Plan, Meter: o.Meter,
			Description: fmt.Sprintf("late usage for %s: reverses %s", orig, o.Kind),
			Quantity:    o.Quantity.Neg(), Billable: o.Billable.Neg(), Amount: o.Amount.Neg(), OriginalPeriod: &orig,
		})
	}
	return adj, updated, nil
}

func signed(d decimal.Decimal) string {
	if d.IsNegative() {
		return d.String()
	}
	return "+" + d.String()
}

// AddLines appends lines (such as adjustments) and recomputes the subtotal.
func (inv *Invoice) AddLines(lines ...Line) {
	inv.Lines = append(inv.Lines, lines...)
	inv.Subtotal = sumLines(inv.Lines)
}
