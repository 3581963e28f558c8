package commands

import (
	"context"
	"fmt"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// tenantPage is how many tenants EachTenant reads from the tenants read model at a time.
const tenantPage = 500

// EachTenant calls fn for every tenant of the tenants read model, in id order,
// reading a page at a time; it stops at the first error, fn's or the reader's.
// The scheduler, billing-close's fan-out and the CLI's `billing close` all page
// through tenants with it.
func (s *Service) EachTenant(ctx context.Context, fn func(projections.TenantSummary) error) error {
	after := ""
	for {
		page, err := s.ListTenants(ctx, after, tenantPage)
		if err != nil {
			return err
		}
		for _, t := range page {
			if err := fn(t); err != nil {
				return err
			}
		}
		if len(page) < tenantPage {
			return nil
		}
		after = page[len(page)-1].TenantID
	}
}

// CloseThrough closes every unclosed period of the tenant in order, from its
// first up to and including through, and returns what each close did. Periods
// are closed in order so invoice numbers have no gaps; it stops at the first
// failure, so a retry resumes there. Closing is idempotent, so redelivery or a
// concurrent close is harmless. The periods this Billing saw closed are
// remembered, so a long-running caller (the scheduler) does not re-read them.
func (b *Billing) CloseThrough(ctx context.Context, tid events.TenantID, through billing.Period) ([]CloseResult, error) {
	if err := tid.Validate(); err == nil {
		// An offboarded tenant is billed up to its offboarding: one final
		// invoice for that period, then it is skipped (docs/lifecycle.md).
		if st, err := b.Service.tenantState(ctx, tid); err == nil && !st.OffboardedAt.IsZero() {
			if last := billing.PeriodOf(st.OffboardedAt); last.Start().Before(through.Start()) {
				through = last
			}
		}
	}
	from, known := b.closedThrough(tid)
	if known {
		from = from.Next()
	} else {
		if err := tid.Validate(); err != nil {
			return nil, fmt.Errorf("load tenant %s: %w", tid, domain.Errorf(domain.CodeNotFound, "no such tenant"))
		}
		t, err := b.Service.loadTenant(ctx, tid)
		if err != nil {
			return nil, fmt.Errorf("load tenant %s: %w", tid, err)
		}
		from = billing.PeriodOf(t.CreatedAt)
	}
	var out []CloseResult
	for p := from; !p.Start().After(through.Start()); p = p.Next() {
		res, err := b.Close(ctx, tid, p)
		if err != nil {
			return out, fmt.Errorf("close %s %s: %w", tid, p, err)
		}
		b.markClosed(tid, p)
		out = append(out, res)
	}
	return out, nil
}

// closedThrough is the last period of the tenant this Billing saw closed.
func (b *Billing) closedThrough(tid events.TenantID) (billing.Period, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.closed[tid]
	return p, ok
}

func (b *Billing) markClosed(tid events.TenantID, p billing.Period) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed == nil {
		b.closed = map[events.TenantID]billing.Period{}
	}
	b.closed[tid] = p
}
