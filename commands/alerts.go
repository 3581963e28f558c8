package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Usage alerts and spend caps (docs/billing.md, "Alerts and spend caps"),
// built on the entitlement checks (decision 17): the configuration is part
// of the entitlement state every check reads (so a raised cap lifts a refusal
// at once, as an upgrade lifts a limit), the values come from the billing fold
// that rates the summary and the close, and a threshold reached is written
// once per period and threshold by an append at "no stream" to its own stream,
// as entitlement.limit_passed is.

// AlertsRequest is the body of PUT /tenants/{tenant_id}/alerts: the whole
// configuration, which replaces the one before.
type AlertsRequest struct {
	Thresholds []billing.Threshold
	SpendCap   *string
}

// ThresholdView is one configured threshold with its id.
type ThresholdView struct {
	ID string `json:"id"`
	billing.Threshold
}

// AppliedThreshold is a threshold as it applies under the tenant's plan now:
// a percent one per metered limit, with the value at which it is reached.
type AppliedThreshold struct {
	ID    string  `json:"id"`
	Kind  string  `json:"kind"`
	Meter string  `json:"meter,omitempty"`
	Value string  `json:"value"`
	Limit *string `json:"limit,omitempty"`
}

// AlertsView is GET /tenants/{tenant_id}/alerts.
type AlertsView struct {
	TenantID string `json:"tenant_id"`
	// Source is "tenant" once a tenant admin configured alerts, else "plan".
	Source     string             `json:"source"`
	Thresholds []ThresholdView    `json:"thresholds"`
	Applies    []AppliedThreshold `json:"applies"`
	SpendCap   *string            `json:"spend_cap"`
	Currency   string             `json:"currency"`
	// Version is the configuration's version on the alerts stream (0: none yet).
	Version int64 `json:"version"`
}

// SpendCapProblemType is the problem type URI of a refusal by a spend cap.
const SpendCapProblemType = "https://github.com/tenantstream/tenantstream/blob/main/docs/api.md#spend-caps"

// SpendCapError refuses a metered action that would take the period's
// running subtotal past the tenant's spend cap: HTTP 402, nothing written.
type SpendCapError struct {
	Cap           decimal.Decimal
	Subtotal      decimal.Decimal // before the action
	SubtotalAfter decimal.Decimal // had it been admitted
	Currency      string
	Period        billing.Period
}

func (e *SpendCapError) detail() string {
	return fmt.Sprintf("The spend cap is %s %s and this action would take the period's subtotal from %s to %s (the cap resets at %s). A tenant admin can raise it with PUT /tenants/{tenant_id}/alerts.",
		e.Cap, e.Currency, e.Subtotal, e.SubtotalAfter, e.Period.End().Format(time.RFC3339))
}

func (e *SpendCapError) Error() string { return "spend cap reached: " + e.detail() }

// Unwrap gives the error its code (402).
func (e *SpendCapError) Unwrap() error {
	return &domain.Error{Code: domain.CodeLimitExceeded, Message: e.detail()}
}

// ProblemType implements problem.Typed.
func (e *SpendCapError) ProblemType() (string, string) {
	return SpendCapProblemType, "Spend cap reached"
}

// ProblemExtensions implements problem.Typed.
func (e *SpendCapError) ProblemExtensions() map[string]any {
	return map[string]any{"feature": "spend_cap", "spend_cap": e.Cap.String(), "subtotal": e.Subtotal.String(),
		"subtotal_after": e.SubtotalAfter.String(), "currency": e.Currency, "resets_at": e.Period.End()}
}

// refused reports whether err is a refusal by a limit or a cap, which a
// check made on a cached state confirms on a fresh one (decision 17).
func refused(err error) bool {
	var lim *LimitError
	var sc *SpendCapError
	return errors.As(err, &lim) || errors.As(err, &sc)
}

// alertsOf folds the tenant's alerts stream, reading only what was appended
// since the last look.
func (s *Service) alertsOf(ctx context.Context, tid events.TenantID) (billing.AlertConfig, error) {
	g := s.gate(tid)
	g.alMu.Lock()
	defer g.alMu.Unlock()
	evs, err := s.Store.Load(ctx, tid, billing.AlertsStreamID, g.alerts.Version+1)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return billing.AlertConfig{}, storeError("load alerts", err)
	}
	for _, ev := range evs {
		c, err := events.DecodeAs[billing.AlertsConfigured](schema.Registry, ev)
		if err != nil {
			return billing.AlertConfig{}, storeError("decode alerts", err)
		}
		g.alerts.Apply(ev.Version, &c)
	}
	return g.alerts, nil // Apply replaces the slices, never changes them
}

// alertsAt folds the alerts stream up to version upTo (a retried PUT's answer).
func (s *Service) alertsAt(ctx context.Context, tid events.TenantID, upTo int64) (billing.AlertConfig, error) {
	evs, err := s.Store.Load(ctx, tid, billing.AlertsStreamID, 1)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return billing.AlertConfig{}, storeError("load alerts", err)
	}
	var c billing.AlertConfig
	for _, ev := range evs {
		if ev.Version > upTo {
			break
		}
		e, err := events.DecodeAs[billing.AlertsConfigured](schema.Registry, ev)
		if err != nil {
			return billing.AlertConfig{}, storeError("decode alerts", err)
		}
		c.Apply(ev.Version, &e)
	}
	return c, nil
}

// Alerts answers the tenant's alert configuration (a member, or an API key
// with billing:read).
func (s *Service) Alerts(ctx context.Context, m Meta, tenantID string) (AlertsView, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return AlertsView{}, err
	}
	st, err := s.entitlementState(ctx, tid)
	if err != nil {
		return AlertsView{}, err
	}
	return alertsView(tid, st, st.alerts), nil
}

func alertsView(tid events.TenantID, st entState, c billing.AlertConfig) AlertsView {
	ths, source := c.Effective(st.plan)
	v := AlertsView{TenantID: string(tid), Source: source, Thresholds: []ThresholdView{}, Applies: []AppliedThreshold{},
		Currency: st.book.CurrencyCode(), Version: c.Version}
	for _, t := range ths {
		v.Thresholds = append(v.Thresholds, ThresholdView{ID: t.ID(), Threshold: t})
	}
	for _, a := range billing.ResolveThresholds(ths, st.plan, st.overrides, st.book.Latest().SortedMeterIDs()) {
		ap := AppliedThreshold{ID: a.ID, Kind: a.Threshold.Kind(), Meter: a.Meter, Value: a.Value.String()}
		if a.Limit != nil {
			ap.Limit = decString(*a.Limit)
		}
		v.Applies = append(v.Applies, ap)
	}
	if c.SpendCap != nil {
		v.SpendCap = decString(*c.SpendCap)
	}
	return v
}

// ConfigureAlerts replaces the tenant's alert configuration (tenant_admin
// only). It is validated whole against the catalogue and the tenant's plan;
// with an Idempotency-Key a retry answers what the first attempt did, and the
// key with another body is a 422.
func (s *Service) ConfigureAlerts(ctx context.Context, m Meta, tenantID string, req AlertsRequest) (AlertsView, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return AlertsView{}, err
	}
	if err := s.requireRole(ctx, m, tid, identity.RoleTenantAdmin); err != nil {
		return AlertsView{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return AlertsView{}, err
	}
	answer := func(res events.AppendResult) (AlertsView, error) {
		if res.Events[0].Type != billing.TypeAlertsConfigured {
			return AlertsView{}, errKeyReused
		}
		st, err := s.entitlementState(ctx, tid)
		if err != nil {
			return AlertsView{}, err
		}
		c, err := s.alertsAt(ctx, tid, res.LastVersion())
		if err != nil {
			return AlertsView{}, err
		}
		return alertsView(tid, st, c), nil
	}
	if res, dup, err := s.firstResult(ctx, m, tid, billing.AlertsStreamID); err != nil {
		return AlertsView{}, err
	} else if dup {
		return answer(res)
	}
	st, err := s.entitlementState(ctx, tid)
	if err != nil {
		return AlertsView{}, err
	}
	cat := st.book.Latest()
	ths, err := cat.ValidateThresholds("thresholds", req.Thresholds)
	var te *billing.ThresholdError
	if errors.As(err, &te) {
		return AlertsView{}, domain.FieldError(te.Field, "%s", te.Message)
	}
	if err != nil {
		return AlertsView{}, err
	}
	for i, t := range ths {
		if t.Kind() != billing.ThresholdPercent || t.Meter == "" {
			continue
		}
		if e, ok := billing.MeterFeature(st.plan, st.overrides, t.Meter); !ok || !e.Allowed || e.Unlimited {
			return AlertsView{}, domain.FieldError(fmt.Sprintf("thresholds[%d].meter", i), "plan %s sets no limit on %s: a percent_of_limit threshold needs one", st.ref.Plan, t.Meter)
		}
	}
	ev := &billing.AlertsConfigured{Thresholds: ths, At: s.Clock.Now()}
	if req.SpendCap != nil {
		d, err := billing.ParseAmount(*req.SpendCap, cat.MinorUnits())
		if err != nil {
			return AlertsView{}, domain.FieldError("spend_cap", "%v", err)
		}
		c := d.String()
		ev.SpendCap = &c
	}
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: billing.AlertsStreamID, StreamType: billing.AlertsStreamType, Expected: events.AnyVersion,
		IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
		Events: []events.NewEvent{newEvent(ev)},
	})
	if err != nil {
		return AlertsView{}, storeError("configure alerts", err)
	}
	s.dropEntitlementState(tid)
	if res.Duplicate {
		return answer(res)
	}
	var c billing.AlertConfig
	c.Apply(res.LastVersion(), ev)
	return alertsView(tid, st, c), nil
}

// checkAlerts appends usage.threshold_reached for each threshold the
// tenant's usage in periods reaches, once per period and threshold: it runs
// after usage is in the store (a usage report, a Meter flush), reads the
// period's fold (so what it sees does not depend on the order usage arrived
// in, only on what arrived), and appends at "no stream", so concurrent checks
// of every instance write each alert once. A failure is logged; the next
// recording of the period checks again.
func (s *Service) checkAlerts(ctx context.Context, tid events.TenantID, periods ...billing.Period) {
	ctx = context.WithoutCancel(ctx)
	st, _, err := s.cachedEntitlementState(ctx, tid)
	if err != nil {
		s.logger().WarnContext(ctx, "checking usage alerts failed; the next recording tries again", "tenant", tid, "err", err)
		return
	}
	ths, source := st.alerts.Effective(st.plan)
	if len(ths) == 0 {
		return
	}
	resolved := billing.ResolveThresholds(ths, st.plan, st.overrides, st.book.Latest().SortedMeterIDs())
	g := s.gate(tid)
	done := map[billing.Period]bool{}
	for _, p := range periods {
		if done[p] {
			continue
		}
		done[p] = true
		var todo []billing.AlertThreshold
		subtotal := false
		g.mu.Lock()
		for _, a := range resolved {
			if !g.alerted[p.String()+"/"+a.ID] {
				todo = append(todo, a)
				subtotal = subtotal || a.Meter == ""
			}
		}
		g.mu.Unlock()
		if len(todo) == 0 {
			continue
		}
		var reached []*billing.ThresholdReached
		now := s.Clock.Now()
		err := s.billing().currentFold(ctx, tid, p, func(f fold) error {
			if f.ledger == nil {
				return nil
			}
			var sub decimal.Decimal
			if subtotal {
				inv, err := billing.Rate(f.book, f.segs, f.ledger)
				if err != nil {
					return fmt.Errorf("rate %s: %w", p, err)
				}
				sub = inv.Subtotal
			}
			for _, a := range todo {
				v, currency := sub, f.book.CurrencyCode()
				if a.Meter != "" {
					v, currency = f.ledger.Total(a.Meter), ""
				}
				if a.Reached(v) {
					reached = append(reached, &billing.ThresholdReached{ThresholdID: a.ID, Threshold: a.Threshold, Kind: a.Threshold.Kind(),
						Meter: a.Meter, Value: a.Value, Limit: a.Limit, Reached: v, Currency: currency, Period: p, Plan: st.ref, Source: source, At: now})
				}
			}
			return nil
		})
		if err != nil {
			s.logger().WarnContext(ctx, "checking usage alerts failed; the next recording tries again", "tenant", tid, "period", p.String(), "err", err)
			continue
		}
		for _, r := range reached {
			_, err := s.Store.Append(ctx, events.AppendRequest{
				Tenant: tid, Stream: events.StreamID(billing.ThresholdStreamID(p, r.ThresholdID)), StreamType: billing.ThresholdStreamType,
				Expected: events.NoStream, Actor: "platform", Events: []events.NewEvent{newEvent(r)},
			})
			if err != nil && !errors.Is(err, events.ErrConcurrency) {
				s.logger().WarnContext(ctx, "recording a usage alert failed; the next recording tries again", "tenant", tid, "threshold", r.ThresholdID, "err", err)
				continue
			}
			g.mu.Lock()
			g.alerted[p.String()+"/"+r.ThresholdID] = true
			g.mu.Unlock()
		}
	}
}

// recordedPeriods lists the periods of recs, once each.
func recordedPeriods(recs []metering.Recorded) []billing.Period {
	var out []billing.Period
	seen := map[billing.Period]bool{}
	for _, r := range recs {
		p := billing.PeriodOf(r.Timestamp)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// spendCapped reports whether the tenant's spend cap must be checked for
// meter: a cap is set and the plan prices the meter (an unpriced meter adds
// nothing to the subtotal).
func spendCapped(st entState, meter string) bool {
	return st.alerts.SpendCap != nil && st.plan.PricesMeter(meter)
}

// checkSpend refuses an action that takes the subtotal from before to after
// past the cap: "would pass" means the subtotal after the action, priced by
// the plan, is above the cap and above the subtotal before it (an action that
// adds nothing, within included units, is never refused by the cap).
func checkSpend(st entState, p billing.Period, before, after decimal.Decimal) error {
	c := st.alerts.SpendCap
	if c == nil || !after.GreaterThan(*c) || !after.GreaterThan(before) {
		return nil
	}
	return &SpendCapError{Cap: *c, Subtotal: before, SubtotalAfter: after, Currency: st.book.CurrencyCode(), Period: p}
}

// subtotalsAdding rates the fold before and after n more units of a count or
// sum meter at at, pending units (counted, not yet in the fold) included in both.
func subtotalsAdding(f fold, meter string, pending, n decimal.Decimal, at time.Time) (decimal.Decimal, decimal.Decimal, error) {
	unflushed := billing.Usage{Meter: meter, Quantity: pending, OccurredAt: at}
	before, err := billing.RateAdding(f.book, f.segs, f.ledger, []billing.Usage{unflushed})
	if err != nil {
		return decimal.Zero, decimal.Zero, err
	}
	unflushed.Quantity = pending.Add(n)
	after, err := billing.RateAdding(f.book, f.segs, f.ledger, []billing.Usage{unflushed})
	if err != nil {
		return decimal.Zero, decimal.Zero, err
	}
	return before.Subtotal, after.Subtotal, nil
}

// subtotalsWith rates the fold before and after recs (records already
// folded add nothing, as in usageAfter), with the process's item writes not
// yet in the fold (unflushed) in both: count and sum meters without copying
// the ledger, other aggregations in a copy.
func subtotalsWith(f fold, recs []metering.Recorded, unflushed []billing.Usage) (decimal.Decimal, decimal.Decimal, error) {
	before, err := billing.RateAdding(f.book, f.segs, f.ledger, unflushed)
	if errors.Is(err, billing.ErrNotAdditive) {
		before, err = rateCopy(f, unflushed)
	}
	if err != nil {
		return decimal.Zero, decimal.Zero, err
	}
	us := make([]billing.Usage, 0, len(recs)+len(unflushed))
	us = append(us, unflushed...)
	for _, r := range recs {
		q, err := decimal.NewFromString(r.Quantity)
		if err != nil {
			continue // validated before
		}
		us = append(us, billing.Usage{ID: r.Meter + "/" + r.ID, Meter: r.Meter, Quantity: q, OccurredAt: r.Timestamp.UTC(), Properties: r.Properties})
	}
	after, err := billing.RateAdding(f.book, f.segs, f.ledger, us)
	if errors.Is(err, billing.ErrNotAdditive) {
		after, err = rateCopy(f, us)
	}
	if err != nil {
		return decimal.Zero, decimal.Zero, err
	}
	return before.Subtotal, after.Subtotal, nil
}

// rateCopy rates a copy of the fold's ledger with us added.
func rateCopy(f fold, us []billing.Usage) (billing.Invoice, error) {
	cp := f.ledger.Clone()
	for _, u := range us {
		_, _ = cp.Add(u)
	}
	return billing.Rate(f.book, f.segs, cp)
}
