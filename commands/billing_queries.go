package commands

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// Summary is GET /billing/{tenant_id}: the current period as billed so far.
type Summary struct {
	TenantID string `json:"tenant_id"`
	Plan     string `json:"plan"`
	// PlanVersion is the version of Plan in force (docs/ARCHITECTURE.md, decision 14).
	PlanVersion int                   `json:"plan_version,omitempty"`
	Currency    string                `json:"currency"`
	Period      SummaryPeriod         `json:"period"`
	Usage       map[string]string     `json:"usage"`
	Segments    []billing.PlanSegment `json:"segments"`
	Lines       json.RawMessage       `json:"lines"`
	Subtotal    string                `json:"subtotal"`
	Invoices    []json.RawMessage     `json:"invoices"`
}

// SummaryPeriod is a period's bounds and name.
type SummaryPeriod struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Summary implements the billing summary query.
func (b *Billing) Summary(ctx context.Context, m Meta, tenantID string) (Summary, error) {
	tid, err := b.Service.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return Summary{}, err
	}
	p := billing.PeriodOf(b.Service.Clock.Now())
	inv, f, err := b.current(ctx, tid, p)
	if err != nil {
		return Summary{}, err
	}
	book := f.book // read once, by current
	raw, err := json.Marshal(inv)
	if err != nil {
		return Summary{}, err
	}
	var draft struct {
		Lines    json.RawMessage `json:"lines"`
		Subtotal string          `json:"subtotal"`
	}
	if err := json.Unmarshal(raw, &draft); err != nil {
		return Summary{}, err
	}
	if string(draft.Lines) == "null" {
		draft.Lines = json.RawMessage("[]")
	}
	usage := map[string]string{}
	if f.ledger != nil {
		for meter, q := range f.ledger.Totals() {
			usage[meter] = q.String()
		}
	}
	for _, mt := range book.Latest().AllMeters() {
		if _, ok := usage[mt.ID]; !ok {
			usage[mt.ID] = decimal.Zero.String()
		}
	}
	invs, err := b.invoiceDocs(ctx, tid)
	if err != nil {
		return Summary{}, err
	}
	segs := f.segs
	if segs == nil {
		segs = []billing.PlanSegment{}
	}
	return Summary{
		TenantID: string(tid), Plan: f.profile.Plan, PlanVersion: billing.EffectiveVersion(f.profile.PlanVersion), Currency: book.CurrencyCode(),
		Period: SummaryPeriod{ID: p.String(), Start: p.Start(), End: p.End()},
		Usage:  usage, Segments: segs, Lines: draft.Lines, Subtotal: draft.Subtotal, Invoices: invs,
	}, nil
}

// invoiceDocs lists the tenant's issued invoices from the invoices read model
// (which trails the store by the projection lag), oldest first.
func (b *Billing) invoiceDocs(ctx context.Context, tid events.TenantID) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	after := ""
	for {
		entries, err := b.Service.Reader.List(ctx, projections.InvoicesProjection, tid, projections.InvoicesCollection, after, 500)
		if err != nil {
			return nil, storeError("list invoices", err)
		}
		for _, e := range entries {
			out = append(out, json.RawMessage(e.Value))
		}
		if len(entries) < 500 {
			return out, nil
		}
		after = entries[len(entries)-1].Key
	}
}

// InvoiceList is GET /billing/{tenant_id}/invoices: the tenant's issued
// invoices, oldest first, each as the invoices read model stores it (the JSON of
// billing.Invoice).
type InvoiceList struct {
	Invoices []json.RawMessage `json:"invoices"`
}

// Invoices implements GET /billing/{tenant_id}/invoices.
func (b *Billing) Invoices(ctx context.Context, m Meta, tenantID string) (InvoiceList, error) {
	tid, err := b.Service.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return InvoiceList{}, err
	}
	invs, err := b.invoiceDocs(ctx, tid)
	if err != nil {
		return InvoiceList{}, err
	}
	return InvoiceList{Invoices: invs}, nil
}

// Invoice implements GET /billing/{tenant_id}/invoices/{invoice_id}: the
// invoice as the invoices read model stores it (the JSON of billing.Invoice).
func (b *Billing) Invoice(ctx context.Context, m Meta, tenantID, invoiceID string) (json.RawMessage, error) {
	tid, err := b.Service.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return nil, err
	}
	if len(invoiceID) > 64 {
		return nil, domain.Errorf(domain.CodeNotFound, "no such invoice")
	}
	invs, err := b.invoiceDocs(ctx, tid)
	if err != nil {
		return nil, err
	}
	for _, raw := range invs {
		var head struct {
			ID string `json:"invoice_id"`
		}
		if json.Unmarshal(raw, &head) == nil && head.ID == invoiceID {
			return raw, nil
		}
	}
	return nil, domain.Errorf(domain.CodeNotFound, "no such invoice")
}

// ListTenants pages through the platform's tenant directory (for scheduled jobs).
func (s *Service) ListTenants(ctx context.Context, after string, limit int) ([]projections.TenantSummary, error) {
	entries, err := s.Reader.List(ctx, projections.TenantsProjection, projections.PlatformTenant, projections.TenantsCollection, after, limit)
	if err != nil {
		return nil, storeError("list tenants", err)
	}
	out := make([]projections.TenantSummary, 0, len(entries))
	for _, e := range entries {
		var t projections.TenantSummary
		if err := json.Unmarshal(e.Value, &t); err != nil {
			return nil, storeError("decode tenant", err)
		}
		out = append(out, t)
	}
	return out, nil
}
