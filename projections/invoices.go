package projections

import (
	"context"
	"encoding/json"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Names under which the invoices projection keeps its read model.
const (
	InvoicesProjection = "invoices"
	// InvoicesCollection holds a tenant's issued invoices (billing.Invoice's
	// JSON), keyed by period.
	InvoicesCollection = "invoices"
)

// Invoices lists each tenant's issued invoices, keyed by period (YYYY-MM sorts
// chronologically). Each invoice is its own stream, so delivery order is irrelevant.
type Invoices struct{}

func init() { Register(Invoices{}) }

// Name implements Projection.
func (Invoices) Name() string { return InvoicesProjection }

// Handles implements Projection.
func (Invoices) Handles() []string { return []string{billing.TypeInvoiceIssued} }

// Apply implements Projection.
func (Invoices) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	iss, err := events.DecodeAs[billing.Issued](schema.Registry, ev)
	if err != nil {
		return err
	}
	b, err := json.Marshal(iss.Invoice)
	if err != nil {
		return err
	}
	return tx.Put(ctx, ev.TenantID, InvoicesCollection, iss.Invoice.Period.String(), b)
}
