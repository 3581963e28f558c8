package commands

import (
	"context"
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
)

// AuditLine compares one invoice line as issued and as recomputed.
type AuditLine struct {
	Key                string `json:"key"`
	IssuedQuantity     string `json:"issued_quantity"`
	RecomputedQuantity string `json:"recomputed_quantity"`
	IssuedAmount       string `json:"issued_amount"`
	RecomputedAmount   string `json:"recomputed_amount"`
	Match              bool   `json:"match"`
}

// AuditReport is the result of re-deriving an issued invoice from the event store.
type AuditReport struct {
	Match              bool        `json:"match"`
	TenantID           string      `json:"tenant_id"`
	Period             string      `json:"period"`
	InvoiceID          string      `json:"invoice_id"`
	Number             int64       `json:"number"`
	Currency           string      `json:"currency"`
	UsageVersion       int64       `json:"usage_version"`
	IssuedSubtotal     string      `json:"issued_subtotal"`
	RecomputedSubtotal string      `json:"recomputed_subtotal"`
	Lines              []AuditLine `json:"lines"`
}

// Audit re-reads the tenant's events for the period from the store, folds the
// ledger again up to the usage version the invoice was computed from, rates it,
// and compares the result with the issued invoice line by line and to the cent.
func (b *Billing) Audit(ctx context.Context, tid events.TenantID, p billing.Period) (AuditReport, error) {
	if err := tid.Validate(); err != nil {
		return AuditReport{}, domain.FieldError("tenant", "invalid tenant id")
	}
	iss, ok, err := b.issuedInvoice(ctx, tid, p)
	if err != nil {
		return AuditReport{}, err
	}
	if !ok {
		return AuditReport{}, domain.Errorf(domain.CodeNotFound, "tenant %s has no invoice for %s", tid, p)
	}
	opening := map[string]decimal.Decimal{}
	for m, v := range iss.Opening {
		d, err := decimal.NewFromString(v)
		if err != nil {
			return AuditReport{}, fmt.Errorf("audit: opening %s: %w", m, err)
		}
		opening[m] = d
	}
	rep := AuditReport{
		TenantID: string(tid), Period: p.String(), InvoiceID: iss.Invoice.InvoiceID, Number: iss.Invoice.Number,
		Currency: iss.Invoice.Currency, UsageVersion: iss.UsageVersion, IssuedSubtotal: iss.Invoice.Subtotal.String(),
	}
	var recomputed billing.Invoice
	f, err := b.foldPeriod(ctx, tid, p, iss.UsageVersion, opening)
	if err != nil {
		return AuditReport{}, err
	}
	if len(f.segs) > 0 {
		if recomputed, err = billing.Rate(b.Catalog, f.segs, f.ledger); err != nil {
			return AuditReport{}, fmt.Errorf("audit: rate: %w", err)
		}
	}
	rep.RecomputedSubtotal = recomputed.Subtotal.String()
	rep.Match = iss.Invoice.Subtotal.Equal(recomputed.Subtotal) && iss.Invoice.Currency == recomputed.Currency &&
		len(iss.Invoice.Lines) == len(recomputed.Lines)
	n := max(len(iss.Invoice.Lines), len(recomputed.Lines))
	for i := 0; i < n; i++ {
		var a, r *billing.Line
		if i < len(iss.Invoice.Lines) {
			a = &iss.Invoice.Lines[i]
		}
		if i < len(recomputed.Lines) {
			r = &recomputed.Lines[i]
		}
		al := AuditLine{Key: lineKey(a, r), IssuedQuantity: "-", RecomputedQuantity: "-", IssuedAmount: "-", RecomputedAmount: "-"}
		if a != nil {
			al.IssuedQuantity, al.IssuedAmount = a.Quantity.String(), a.Amount.String()
		}
		if r != nil {
			al.RecomputedQuantity, al.RecomputedAmount = r.Quantity.String(), r.Amount.String()
		}
		al.Match = a != nil && r != nil && a.Kind == r.Kind && a.Meter == r.Meter && a.Segment == r.Segment &&
			a.Quantity.Equal(r.Quantity) && a.Amount.Equal(r.Amount)
		rep.Match = rep.Match && al.Match
		rep.Lines = append(rep.Lines, al)
	}
	return rep, nil
}

func lineKey(a, r *billing.Line) string {
	l := a
	if l == nil {
		l = r
	}
	k := "segment " + strconv.Itoa(l.Segment) + " " + string(l.Kind)
	if l.Meter != "" {
		k += " " + l.Meter
	}
	return k
}
