package commands

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
)

// Scheduler closes billing periods when they become due: for every tenant, every
// period from its first up to the last one whose end plus the grace window has
// passed, in order, so invoice numbers have no gaps. Closing is idempotent, so the
// scheduler, the CLI and a restarted process can all run it safely.
type Scheduler struct {
	Billing *Billing

	mu sync.Mutex
	// closedThrough remembers, per tenant, the last period known closed.
	closedThrough map[events.TenantID]billing.Period
}

// RunDue closes every due period and returns the invoices it issued.
func (s *Scheduler) RunDue(ctx context.Context) ([]CloseResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedThrough == nil {
		s.closedThrough = map[events.TenantID]billing.Period{}
	}
	now := s.Billing.Service.Clock.Now()
	last := billing.PeriodOf(now.Add(-s.Billing.grace())).Prev()
	var out []CloseResult
	var errs []error
	after := ""
	for {
		tenants, err := s.Billing.Service.ListTenants(ctx, after, 500)
		if err != nil {
			return out, err
		}
		for _, t := range tenants {
			tid := events.TenantID(t.TenantID)
			if t.CreatedAt.IsZero() {
				continue
			}
			p := billing.PeriodOf(t.CreatedAt)
			if done, ok := s.closedThrough[tid]; ok {
				p = done.Next()
			}
			for ; !p.Start().After(last.Start()); p = p.Next() {
				res, err := s.Billing.Close(ctx, tid, p)
				if err != nil {
					errs = append(errs, err)
					break // keep numbering gapless: retry this period next time
				}
				s.closedThrough[tid] = p
				if res.Issued {
					out = append(out, res)
				}
			}
		}
		if len(tenants) < 500 {
			break
		}
		after = tenants[len(tenants)-1].TenantID
	}
	return out, errors.Join(errs...)
}

// Run checks for due periods every interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context, interval time.Duration) {
	clock.Every(ctx, interval, func(ctx context.Context) error {
		_, err := s.RunDue(ctx)
		return err
	}, func(err error) { s.Billing.log().Warn("closing due periods failed; will retry", "err", err) })
}
