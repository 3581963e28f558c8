package billing

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// The JSON form of an invoice is a stored format (invoice.issued events carry it):
// every amount and quantity is a decimal string, amounts with exactly the
// currency's minor digits. Golden files in testdata pin it.

type invoiceJSON struct {
	InvoiceID string        `json:"invoice_id"`
	Number    int64         `json:"number"`
	TenantID  string        `json:"tenant_id"`
	Period    Period        `json:"period"`
	Currency  string        `json:"currency"`
	Segments  []PlanSegment `json:"segments"`
	Lines     []lineJSON    `json:"lines"`
	Subtotal  string        `json:"subtotal"`
	IssuedAt  time.Time     `json:"issued_at,omitzero"`
	Proration Proration     `json:"proration,omitempty"`
}

type lineJSON struct {
	Kind           LineKind         `json:"kind"`
	Segment        int              `json:"segment"`
	Plan           string           `json:"plan,omitempty"`
	Meter          string           `json:"meter,omitempty"`
	Description    string           `json:"description"`
	Quantity       decimal.Decimal  `json:"quantity"`
	Billable       decimal.Decimal  `json:"billable_quantity"`
	UnitPrice      *decimal.Decimal `json:"unit_price,omitempty"`
	Tiers          []TierCharge     `json:"tiers,omitempty"`
	Amount         string           `json:"amount"`
	OriginalPeriod *Period          `json:"original_period,omitempty"`
	Grant          string           `json:"grant_id,omitempty"`
}

type quoteJSON struct {
	Currency string     `json:"currency"`
	Lines    []lineJSON `json:"lines"`
	Subtotal string     `json:"subtotal"`
}

func linesJSON(lines []Line, minor int32) []lineJSON {
	out := make([]lineJSON, len(lines))
	for i, ln := range lines {
		out[i] = lineJSON{
			Kind: ln.Kind, Segment: ln.Segment, Plan: ln.Plan, Meter: ln.Meter, Description: ln.Description,
			Quantity: ln.Quantity, Billable: ln.Billable, UnitPrice: ln.UnitPrice, Tiers: ln.Tiers,
			Amount: ln.Amount.StringFixed(minor), OriginalPeriod: ln.OriginalPeriod, Grant: ln.Grant,
		}
	}
	return out
}

// MarshalJSON encodes the invoice in its stored form.
func (inv Invoice) MarshalJSON() ([]byte, error) {
	minor, err := MinorUnits(inv.Currency)
	if err != nil {
		return nil, fmt.Errorf("encode invoice %s: %w", inv.InvoiceID, err)
	}
	segs := make([]PlanSegment, len(inv.Segments))
	for i, s := range inv.Segments {
		segs[i] = PlanSegment{Plan: s.Plan, Version: s.Version, From: s.From.UTC(), To: s.To.UTC()}
	}
	return json.Marshal(invoiceJSON{
		InvoiceID: inv.InvoiceID, Number: inv.Number, TenantID: inv.TenantID, Period: inv.Period,
		Currency: inv.Currency, Segments: segs, Lines: linesJSON(inv.Lines, minor),
		Subtotal: inv.Subtotal.StringFixed(minor), IssuedAt: inv.IssuedAt.UTC(), Proration: inv.Proration,
	})
}

// UnmarshalJSON decodes the stored form.
func (inv *Invoice) UnmarshalJSON(b []byte) error {
	var w invoiceJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("decode invoice: %w", err)
	}
	sub, err := decimal.NewFromString(w.Subtotal)
	if err != nil {
		return fmt.Errorf("decode invoice subtotal: %w", err)
	}
	n := Invoice{InvoiceID: w.InvoiceID, Number: w.Number, TenantID: w.TenantID, Period: w.Period,
		Currency: w.Currency, Segments: w.Segments, Subtotal: sub, IssuedAt: w.IssuedAt, Proration: w.Proration}
	for i, lj := range w.Lines {
		amt, err := decimal.NewFromString(lj.Amount)
		if err != nil {
			return fmt.Errorf("decode invoice lines[%d].amount: %w", i, err)
		}
		n.Lines = append(n.Lines, Line{Kind: lj.Kind, Segment: lj.Segment, Plan: lj.Plan, Meter: lj.Meter,
			Description: lj.Description, Quantity: lj.Quantity, Billable: lj.Billable, UnitPrice: lj.UnitPrice,
			Tiers: lj.Tiers, Amount: amt, OriginalPeriod: lj.OriginalPeriod, Grant: lj.Grant})
	}
	*inv = n
	return nil
}

// MarshalJSON encodes a quote as {"currency", "lines", "subtotal"}.
func (q Quote) MarshalJSON() ([]byte, error) {
	minor, err := MinorUnits(q.Currency)
	if err != nil {
		return nil, fmt.Errorf("encode quote: %w", err)
	}
	return json.Marshal(quoteJSON{Currency: q.Currency, Lines: linesJSON(q.Lines, minor), Subtotal: q.Subtotal.StringFixed(minor)})
}
