package commands

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// Scheduler closes billing periods when they become due: for every tenant, every
// period from its first up to the last one whose end plus the grace window has
// passed, in order (Billing.CloseThrough), so invoice numbers have no gaps.
// Closing is idempotent, so the scheduler, the CLI and a restarted process can
// all run it safely.
type Scheduler struct {
	Billing *Billing

	mu sync.Mutex // one run at a time
}

// RunDue closes every due period and returns the invoices it issued. A tenant
// whose close fails is retried from that period next time; the others go on.
func (s *Scheduler) RunDue(ctx context.Context) ([]CloseResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Billing.Service.Clock.Now()
	last := billing.PeriodOf(now.Add(-s.Billing.grace())).Prev()
	var out []CloseResult
	var errs []error
	err := s.Billing.Service.EachTenant(ctx, func(t projections.TenantSummary) error {
		if t.CreatedAt.IsZero() {
			return nil
		}
		results, err := s.Billing.CloseThrough(ctx, events.TenantID(t.TenantID), last)
		for _, res := range results {
			if res.Issued {
				out = append(out, res)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return out, err
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
