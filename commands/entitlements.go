package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// Entitlements (docs/billing.md, "Entitlements"). A tenant's features are its
// plan version's, with an operator's overrides on top; a metered feature's
// used amount is read from the same period fold that bills it
// (Billing.currentFold), plus the item writes this process counted but has
// not flushed yet, so the check and the invoice cannot disagree.

// Entitlement is one feature as GET /tenants/{tenant_id}/entitlements/{feature}
// answers it. Limit, Used and Remaining are decimal strings, null when they do
// not apply (a boolean feature, no limit, a number the platform does not count).
type Entitlement struct {
	Feature   string     `json:"feature"`
	Allowed   bool       `json:"allowed"`
	Limit     *string    `json:"limit"`
	Used      *string    `json:"used"`
	Remaining *string    `json:"remaining"`
	ResetsAt  *time.Time `json:"resets_at"`
}

// EntitlementList is every feature of the tenant's plan version and overrides.
type EntitlementList struct {
	TenantID     string        `json:"tenant_id"`
	Plan         string        `json:"plan"`
	PlanVersion  int           `json:"plan_version"`
	Entitlements []Entitlement `json:"entitlements"`
}

// LimitProblemType is the problem type URI of a refusal by a plan limit.
const LimitProblemType = "https://github.com/tenantstream/tenantstream/blob/main/docs/api.md#plan-limits"

// LimitError refuses an action a plan limit (or an operator's deny) does not
// admit: HTTP 402 with the limit, the amount used and the cheapest plan that
// lifts it. Nothing was written.
type LimitError struct {
	Feature  string
	Plan     billing.PlanRef
	Limit    decimal.Decimal
	Used     decimal.Decimal
	Denied   bool   // an operator's deny, which no plan lifts
	Upgrade  string // the cheapest plan that lifts it; "" when none does
	ResetsAt *time.Time
}

func (e *LimitError) detail() string {
	var s string
	if e.Denied {
		s = fmt.Sprintf("The %s feature is not available to this tenant (set by an operator).", e.Feature)
	} else {
		s = fmt.Sprintf("The %s limit of plan %s is %s and %s is used", e.Feature, e.Plan.Plan, e.Limit, e.Used)
		if e.ResetsAt != nil {
			s += " this period (it resets at " + e.ResetsAt.UTC().Format(time.RFC3339) + ")"
		}
		s += "."
	}
	if e.Upgrade != "" {
		s += fmt.Sprintf(" The %s plan lifts it.", e.Upgrade)
	} else if !e.Denied {
		s += " No plan of the catalogue lifts it."
	}
	return s
}

func (e *LimitError) Error() string { return "limit exceeded: " + e.detail() }

// Unwrap gives the error its code (402).
func (e *LimitError) Unwrap() error {
	return &domain.Error{Code: domain.CodeLimitExceeded, Message: e.detail()}
}

// ProblemType implements problem.Typed.
func (e *LimitError) ProblemType() (string, string) { return LimitProblemType, "Plan limit reached" }

// ProblemExtensions implements problem.Typed: the members a client branches on.
func (e *LimitError) ProblemExtensions() map[string]any {
	ext := map[string]any{"feature": e.Feature, "plan": e.Plan.Plan, "plan_version": e.Plan.Version,
		"limit": e.Limit.String(), "used": e.Used.String(), "upgrade_plan": nil}
	if e.Upgrade != "" {
		ext["upgrade_plan"] = e.Upgrade
	}
	if e.ResetsAt != nil {
		ext["resets_at"] = e.ResetsAt.UTC()
	}
	return ext
}

// entState is what every check reads: the tenant's plan version from the
// price book and its overrides.
type entState struct {
	tenant    tenant.Tenant
	book      *billing.Book
	plan      *billing.Plan
	ref       billing.PlanRef
	overrides billing.Overrides
	alerts    billing.AlertConfig // the tenant's alert configuration (alerts.go)
}

// entGates holds, per tenant, what concurrent checks of one process share.
type entGates struct {
	mu sync.Mutex
	m  map[events.TenantID]*entGate
}

type entGate struct {
	// mu makes a metered check and its reservation one step, and is held by a
	// usage report with a blocking limit across its append.
	mu       sync.Mutex
	reserved int64 // item writes admitted and not yet counted by the Meter
	// seats serializes the seat-taking commands (AddUser, CreateInvitation).
	seats sync.Mutex
	// invited are invitations this process created that the invitations
	// read model may not show yet (id -> creation time), so they count as seats.
	invited map[string]invitedSeat
	// overrides is the folded overrides stream and its version.
	ovMu      sync.Mutex
	overrides billing.Overrides
	ovVersion int64
	// notified remembers the limit_passed events known to be written (feature/period).
	notified map[string]bool
	// alMu guards alerts, the folded alerts stream; alerted remembers the
	// usage.threshold_reached events known to be written (period/threshold).
	alMu    sync.Mutex
	alerts  billing.AlertConfig
	alerted map[string]bool
	// st is the last entitlement state read for the tenant and when
	// (cachedEntitlementState).
	stMu sync.Mutex
	st   *entState
	stAt time.Time
}

// entStateFresh is how long a check that would admit trusts the plan and
// overrides it last read (decision 17): a write then reads nothing more than it
// did before limits existed. A check that would refuse reads them again first,
// so an upgrade or a raised override lifts a limit at once; a downgrade takes
// effect within this window in other processes, and at once in the one that
// made it (dropEntitlementState).
const entStateFresh = time.Second

// entGateTenants bounds the per-tenant state; past it the map starts over
// (only when no reservation is in flight there is nothing to lose but caches).
const entGateTenants = 100_000

func (s *Service) gate(tid events.TenantID) *entGate {
	s.gatesOnce.Do(func() { s.gates = &entGates{m: map[events.TenantID]*entGate{}} })
	g := s.gates
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.m[tid]
	if e == nil {
		if len(g.m) >= entGateTenants {
			for k, v := range g.m {
				if v.mu.TryLock() {
					idle := v.reserved == 0
					v.mu.Unlock()
					if idle {
						delete(g.m, k)
					}
				}
			}
		}
		e = &entGate{invited: map[string]invitedSeat{}, notified: map[string]bool{}, alerted: map[string]bool{}}
		g.m[tid] = e
	}
	return e
}

// billing is the Billing whose fold the checks read: the one wired with the
// Service (so one cache serves the summary, the close and the checks), else
// one of its own.
func (s *Service) billing() *Billing {
	s.billingOnce.Do(func() {
		if s.Billing == nil {
			s.Billing = &Billing{Service: s}
		}
	})
	return s.Billing
}

// overridesOf folds the tenant's overrides stream, reading only what was
// appended since the last look.
func (s *Service) overridesOf(ctx context.Context, tid events.TenantID) (billing.Overrides, error) {
	g := s.gate(tid)
	g.ovMu.Lock()
	defer g.ovMu.Unlock()
	evs, err := s.Store.Load(ctx, tid, billing.EntitlementsStreamID, g.ovVersion+1)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return nil, storeError("load entitlements", err)
	}
	if len(evs) > 0 {
		next := billing.Overrides{}
		for k, v := range g.overrides {
			next[k] = v
		}
		for _, ev := range evs {
			o, err := events.DecodeAs[billing.EntitlementOverridden](schema.Registry, ev)
			if err != nil {
				return nil, storeError("decode entitlement override", err)
			}
			next.Apply(&o)
			g.ovVersion = ev.Version
		}
		g.overrides = next
	}
	return g.overrides, nil // never changed in place: a fold makes a new map
}

// cachedEntitlementState is entitlementState, or its copy read less than
// entStateFresh ago; cached says which.
func (s *Service) cachedEntitlementState(ctx context.Context, tid events.TenantID) (st entState, cached bool, err error) {
	g := s.gate(tid)
	g.stMu.Lock()
	if g.st != nil && time.Since(g.stAt) < entStateFresh {
		st = *g.st
		g.stMu.Unlock()
		return st, true, nil
	}
	g.stMu.Unlock()
	st, err = s.entitlementState(ctx, tid)
	return st, false, err
}

// dropEntitlementState forgets the cached state of a tenant whose plan or
// overrides this process just changed.
func (s *Service) dropEntitlementState(tid events.TenantID) {
	s.dropTenantState(tid)
	g := s.gate(tid)
	g.stMu.Lock()
	g.st = nil
	g.stMu.Unlock()
}

// entitlementState reads the tenant's plan version and overrides (and
// refreshes the cache).
func (s *Service) entitlementState(ctx context.Context, tid events.TenantID) (entState, error) {
	read := time.Now()
	book, err := s.priceBook(ctx, nil)
	if err != nil {
		return entState{}, err
	}
	t, err := s.tenantState(ctx, tid) // the profile's tail after the held version, not the whole stream
	if err != nil {
		return entState{}, err
	}
	ref := billing.PlanRef{Plan: t.Plan, Version: billing.EffectiveVersion(t.PlanVersion)}
	plan, err := book.PlanVersion(ref.Plan, ref.Version)
	if err != nil {
		return entState{}, fmt.Errorf("entitlements of %s: %w", tid, err)
	}
	ov, err := s.overridesOf(ctx, tid)
	if err != nil {
		return entState{}, err
	}
	al, err := s.alertsOf(ctx, tid)
	if err != nil {
		return entState{}, err
	}
	st := entState{tenant: t, book: book, plan: plan, ref: ref, overrides: ov, alerts: al}
	g := s.gate(tid)
	g.stMu.Lock()
	if g.st == nil || !g.stAt.After(read) {
		g.st, g.stAt = &st, read
	}
	g.stMu.Unlock()
	return st, nil
}

// usedOf reads a meter's usage in period p from the billing fold, plus, for
// item_writes, what this process's Meter counted and has not flushed and the
// writes admitted but not yet counted (the caller holds the gate's lock).
// extra, when set, runs on the fold under its lock with those unflushed units
// (pending). A Flush moves counts into the store while it runs, so a read that
// overlapped one is done again.
func (s *Service) usedOf(ctx context.Context, tid events.TenantID, g *entGate, meter string, p billing.Period, extra func(f fold, pending decimal.Decimal) decimal.Decimal) (decimal.Decimal, decimal.Decimal, error) {
	mt := s.meter(ctx)
	counted := meter == metering.MeterItemWrites && mt != nil
	for {
		var seq int64
		pending := decimal.Zero
		if counted {
			if seq = mt.flushSeq.Load(); seq%2 == 1 {
				if err := sleepCtx(ctx, time.Millisecond); err != nil {
					return decimal.Zero, decimal.Zero, err
				}
				continue
			}
			pending = decimal.NewFromInt(mt.pending(tid, meter, p.Start()) + g.reserved)
		}
		used, more := pending, decimal.Zero
		err := s.billing().currentFold(ctx, tid, p, func(f fold) error {
			if f.ledger != nil {
				used = used.Add(f.ledger.Total(meter))
				if extra != nil {
					more = extra(f, pending)
				}
			}
			return nil
		})
		if err != nil {
			return decimal.Zero, decimal.Zero, err
		}
		if !counted || mt.flushSeq.Load() == seq {
			return used, more, nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Entitlements answers every feature of the tenant (a member or an API key of it).
func (s *Service) Entitlements(ctx context.Context, m Meta, tenantID string) (EntitlementList, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return EntitlementList{}, err
	}
	st, err := s.entitlementState(ctx, tid)
	if err != nil {
		return EntitlementList{}, err
	}
	out := EntitlementList{TenantID: string(tid), Plan: st.ref.Plan, PlanVersion: st.ref.Version, Entitlements: []Entitlement{}}
	for _, name := range billing.Names(st.plan, st.overrides) {
		e, err := s.entitlement(ctx, tid, st, name)
		if err != nil {
			return EntitlementList{}, err
		}
		out.Entitlements = append(out.Entitlements, e)
	}
	return out, nil
}

// Entitlement answers one feature; an unknown one is a 404, a malformed name a 400.
func (s *Service) Entitlement(ctx context.Context, m Meta, tenantID, feature string) (Entitlement, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return Entitlement{}, err
	}
	if !billing.ValidFeatureName(feature) {
		return Entitlement{}, domain.FieldError("feature", "a feature name is 1-64 characters of a-z 0-9 _ - .")
	}
	st, err := s.entitlementState(ctx, tid)
	if err != nil {
		return Entitlement{}, err
	}
	return s.entitlement(ctx, tid, st, feature)
}

func decString(d decimal.Decimal) *string {
	v := d.String()
	return &v
}

func (s *Service) entitlement(ctx context.Context, tid events.TenantID, st entState, name string) (Entitlement, error) {
	e, ok := billing.Resolve(st.plan, st.overrides, name)
	if !ok {
		return Entitlement{}, domain.Errorf(domain.CodeNotFound, "plan %s has no feature %q", st.ref, name)
	}
	out := Entitlement{Feature: name, Allowed: e.Allowed}
	var used *decimal.Decimal
	switch {
	case e.Kind == billing.FeatureMetered:
		p := billing.PeriodOf(s.Clock.Now())
		g := s.gate(tid)
		g.mu.Lock()
		u, _, err := s.usedOf(ctx, tid, g, e.Meter, p, nil)
		g.mu.Unlock()
		if err != nil {
			return Entitlement{}, err
		}
		used = &u
		end := p.End()
		out.ResetsAt = &end
		if e.Allowed && !e.Unlimited && e.OnExceed == billing.ExceedBlock {
			out.Allowed = u.LessThan(e.Limit)
		}
	case name == billing.FeatureSeats:
		u, err := s.seatsUsed(ctx, tid, s.gate(tid))
		if err != nil {
			return Entitlement{}, err
		}
		d := decimal.NewFromInt(int64(u))
		used = &d
		if e.Allowed && !e.Unlimited {
			out.Allowed = d.LessThan(e.Limit)
		}
	}
	if used != nil {
		out.Used = decString(*used)
	}
	if e.Kind != billing.FeatureBoolean && !e.Unlimited {
		out.Limit = decString(e.Limit)
		if used != nil {
			out.Remaining = decString(decimal.Max(decimal.Zero, e.Limit.Sub(*used)))
		}
	}
	return out, nil
}

// limitError builds the refusal of need more of a feature.
func (s *Service) limitError(st entState, e billing.Effective, used, need decimal.Decimal, resets *time.Time) error {
	meter := ""
	if e.Kind == billing.FeatureMetered {
		meter = e.Meter
	}
	le := &LimitError{Feature: e.Name, Plan: st.ref, Limit: e.Limit, Used: used, Denied: !e.Allowed, ResetsAt: resets}
	if e.Allowed {
		le.Upgrade = billing.Lifts(st.book.Latest(), st.ref.Plan, st.overrides, e.Name, meter, used.Add(need))
	}
	return le
}

// itemWriteTicket is an item write admitted by the item_writes limit: commit
// counts it on the Meter and releases it in one step under the gate, so a
// concurrent check never sees it twice or not at all.
type itemWriteTicket struct {
	s      *Service
	tid    events.TenantID
	g      *entGate
	notify *billing.LimitPassed // set when this write takes usage past a notify limit
	done   bool
}

// admitItemWrite checks the tenant's item_writes limit before a put or delete
// and reserves the write; nil (and no error) when no limit applies.
func (s *Service) admitItemWrite(ctx context.Context, tid events.TenantID) (*itemWriteTicket, error) {
	st, cached, err := s.cachedEntitlementState(ctx, tid)
	if err != nil {
		return nil, err
	}
	t, err := s.admitItemWriteUnder(ctx, tid, st)
	if cached && refused(err) {
		// Refuse only on what the store says now: the plan may have changed.
		if st, err = s.entitlementState(ctx, tid); err != nil {
			return nil, err
		}
		return s.admitItemWriteUnder(ctx, tid, st)
	}
	return t, err
}

func (s *Service) admitItemWriteUnder(ctx context.Context, tid events.TenantID, st entState) (*itemWriteTicket, error) {
	e, limited := billing.MeterFeature(st.plan, st.overrides, metering.MeterItemWrites)
	if limited && e.Allowed && (e.Unlimited || e.OnExceed == billing.ExceedOverage) {
		limited = false // overage is billed by the plan's price: nothing to check
	}
	capped := spendCapped(st, metering.MeterItemWrites)
	if !limited && !capped {
		return nil, nil
	}
	now := s.Clock.Now()
	p := billing.PeriodOf(now)
	g := s.gate(tid)
	g.mu.Lock()
	defer g.mu.Unlock()
	one := decimal.NewFromInt(1)
	var spend func(fold, decimal.Decimal) decimal.Decimal
	var before, after decimal.Decimal
	var rateErr error
	if capped {
		spend = func(f fold, pending decimal.Decimal) decimal.Decimal {
			before, after, rateErr = subtotalsAdding(f, metering.MeterItemWrites, pending, one, now)
			return decimal.Zero
		}
	}
	used, _, err := s.usedOf(ctx, tid, g, metering.MeterItemWrites, p, spend)
	if err == nil {
		err = rateErr
	}
	if err != nil {
		return nil, err
	}
	if limited && !e.Admits(used, one) {
		end := p.End()
		return nil, s.limitError(st, e, used, one, &end)
	}
	if capped {
		if err := checkSpend(st, p, before, after); err != nil {
			return nil, err
		}
	}
	g.reserved++
	t := &itemWriteTicket{s: s, tid: tid, g: g}
	if limited && e.OnExceed == billing.ExceedNotify && used.Add(one).GreaterThan(e.Limit) && !g.notified[e.Name+"/"+p.String()] {
		t.notify = &billing.LimitPassed{Feature: e.Name, Meter: e.Meter, Period: p, Limit: e.Limit, Used: used.Add(one), Plan: st.ref, At: now}
	}
	return t, nil
}

// commit counts the admitted write (at, the store's recording time) and releases it.
func (t *itemWriteTicket) commit(ctx context.Context, at time.Time) {
	if t == nil || t.done {
		return
	}
	t.g.mu.Lock()
	t.s.meter(ctx).CountItemWrite(t.tid, at)
	t.g.reserved--
	t.done = true
	t.g.mu.Unlock()
	if t.notify != nil {
		t.s.notifyLimitPassed(ctx, t.tid, t.g, t.notify)
	}
}

// cancel releases a write that was not made.
func (t *itemWriteTicket) cancel() {
	if t == nil || t.done {
		return
	}
	t.g.mu.Lock()
	t.g.reserved--
	t.done = true
	t.g.mu.Unlock()
}

// notifyLimitPassed records, once per feature and period, that a notify
// limit was passed; the outbox turns it into a notification. The stream is
// appended at "no stream", so every instance together writes it once.
func (s *Service) notifyLimitPassed(ctx context.Context, tid events.TenantID, g *entGate, lp *billing.LimitPassed) {
	key := lp.Feature + "/" + lp.Period.String()
	g.mu.Lock()
	done := g.notified[key]
	g.mu.Unlock()
	if done {
		return
	}
	_, err := s.Store.Append(context.WithoutCancel(ctx), events.AppendRequest{
		Tenant: tid, Stream: events.StreamID(billing.LimitPassedStreamID(lp.Feature, lp.Period)), StreamType: billing.LimitPassedStreamType,
		Expected: events.NoStream, Actor: "platform", Events: []events.NewEvent{newEvent(lp)},
	})
	if err != nil && !errors.Is(err, events.ErrConcurrency) {
		s.logger().WarnContext(ctx, "recording a passed limit failed; the next metered action tries again", "tenant", tid, "feature", lp.Feature, "err", err)
		return
	}
	g.mu.Lock()
	g.notified[key] = true
	g.mu.Unlock()
}

// admitUsage checks a usage report against the limits of its meters, per
// period of its records. A report whose records would take a blocking
// meter's usage past its limit is refused whole (as one bad record refuses
// the whole request); records already folded (a retry) add nothing. The
// returned release must be called after the report was appended: it holds
// the tenant's gate across the append when a blocking limit applies, so two
// reports cannot both take the last units.
func (s *Service) admitUsage(ctx context.Context, tid events.TenantID, recs []metering.Recorded) (func(), error) {
	st, cached, err := s.cachedEntitlementState(ctx, tid)
	if err != nil {
		return nil, err
	}
	release, err := s.admitUsageUnder(ctx, tid, st, recs)
	if cached && refused(err) {
		if st, err = s.entitlementState(ctx, tid); err != nil {
			return nil, err
		}
		return s.admitUsageUnder(ctx, tid, st, recs)
	}
	return release, err
}

func (s *Service) admitUsageUnder(ctx context.Context, tid events.TenantID, st entState, recs []metering.Recorded) (func(), error) {
	type key struct {
		meter  string
		period billing.Period
	}
	groups := map[key][]metering.Recorded{}
	var order []key
	feats := map[string]billing.Effective{}
	for _, r := range recs {
		e, ok := feats[r.Meter]
		if !ok {
			if e, ok = billing.MeterFeature(st.plan, st.overrides, r.Meter); !ok || e.Allowed && (e.Unlimited || e.OnExceed == billing.ExceedOverage) {
				continue
			}
			feats[r.Meter] = e
		}
		k := key{r.Meter, billing.PeriodOf(r.Timestamp)}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	// A spend cap checks every period of the records of priced meters.
	var capOrder []billing.Period
	capGroups := map[billing.Period][]metering.Recorded{}
	for _, r := range recs {
		if !spendCapped(st, r.Meter) {
			continue
		}
		p := billing.PeriodOf(r.Timestamp)
		if _, seen := capGroups[p]; !seen {
			capOrder = append(capOrder, p)
		}
		capGroups[p] = append(capGroups[p], r)
	}
	if len(order) == 0 && len(capOrder) == 0 {
		return func() {}, nil
	}
	g := s.gate(tid)
	g.mu.Lock()
	var notices []*billing.LimitPassed
	cat := st.book.Latest()
	for _, k := range order {
		e := feats[k.meter]
		mt, _ := cat.Meter(k.meter)
		used, after, err := s.usedOf(ctx, tid, g, k.meter, k.period, func(f fold, _ decimal.Decimal) decimal.Decimal {
			return usageAfter(f.ledger, mt, k.meter, groups[k])
		})
		if err != nil {
			g.mu.Unlock()
			return nil, err
		}
		if !e.Admits(decimal.Zero, after) {
			g.mu.Unlock()
			end := k.period.End()
			return nil, s.limitError(st, e, used, after.Sub(used), &end)
		}
		if e.OnExceed == billing.ExceedNotify && after.GreaterThan(e.Limit) {
			notices = append(notices, &billing.LimitPassed{Feature: e.Name, Meter: k.meter, Period: k.period, Limit: e.Limit, Used: after, Plan: st.ref, At: s.Clock.Now()})
		}
	}
	for _, p := range capOrder {
		var before, after decimal.Decimal
		// Item writes this process admitted or counted and has not flushed
		// are billed too: a report must not pass the cap they reached.
		var unflushed []billing.Usage
		pending := int64(0)
		if mt := s.meter(ctx); mt != nil {
			pending = mt.pending(tid, metering.MeterItemWrites, p.Start())
		}
		if p == billing.PeriodOf(s.Clock.Now()) {
			pending += g.reserved
		}
		if pending > 0 {
			unflushed = []billing.Usage{{Meter: metering.MeterItemWrites, Quantity: decimal.NewFromInt(pending), OccurredAt: p.Start()}}
		}
		err := s.billing().currentFold(ctx, tid, p, func(f fold) error {
			if f.ledger == nil {
				return nil
			}
			var err error
			before, after, err = subtotalsWith(f, capGroups[p], unflushed)
			return err
		})
		if err == nil {
			err = checkSpend(st, p, before, after)
		}
		if err != nil {
			g.mu.Unlock()
			return nil, err
		}
	}
	return func() {
		g.mu.Unlock()
		for _, lp := range notices {
			s.notifyLimitPassed(ctx, tid, g, lp)
		}
	}, nil
}

// usageAfter is the meter's period total once recs are folded in. Count and
// sum add what the ledger has not seen; other aggregations fold a copy.
func usageAfter(l *billing.Ledger, mt billing.Meter, meter string, recs []metering.Recorded) decimal.Decimal {
	total := l.Total(meter)
	var cp *billing.Ledger
	for _, r := range recs {
		id := r.Meter + "/" + r.ID // as usagesOf names it
		if l.Seen(id) {
			continue
		}
		q, err := decimal.NewFromString(r.Quantity)
		if err != nil {
			continue // validated before
		}
		switch mt.Aggregation {
		case billing.AggCount:
			if q.IsZero() {
				q = decimal.NewFromInt(1)
			}
			total = total.Add(q)
		case billing.AggSum:
			total = total.Add(q)
		default:
			if cp == nil {
				cp = l.Clone()
			}
			_, _ = cp.Add(billing.Usage{ID: id, Meter: meter, Quantity: q, OccurredAt: r.Timestamp.UTC(), Properties: r.Properties})
		}
	}
	if cp != nil {
		return cp.Total(meter)
	}
	return total
}

// seatsUsed is the seats a tenant holds: active members plus pending
// invitations (not expired, for an email that is not a member yet), those
// the read model shows and those this process created that it may not show yet.
func (s *Service) seatsUsed(ctx context.Context, tid events.TenantID, g *entGate) (int, error) {
	r, err := s.roster(ctx, tid)
	if err != nil {
		return 0, err
	}
	members := map[string]bool{}
	for _, mem := range r.Members() {
		if mem.Active {
			members[mem.Email] = true
		}
	}
	pending := map[string]bool{}
	list, err := s.pendingInvitations(ctx, tid)
	if err != nil {
		return 0, err
	}
	shown := map[string]bool{}
	for _, inv := range list {
		shown[inv.InvitationID] = true
		if !members[inv.Email] {
			pending[inv.Email] = true
		}
	}
	now := s.Clock.Now()
	g.mu.Lock()
	for id, inv := range g.invited {
		if shown[id] || now.Sub(inv.at) > invitedGrace {
			delete(g.invited, id) // the read model shows it (or will have long since)
			continue
		}
		if !members[inv.email] {
			pending[inv.email] = true
		}
	}
	g.mu.Unlock()
	return len(members) + len(pending), nil
}

type invitedSeat struct {
	email string
	at    time.Time
}

// invitedGrace is how long an invitation this process created counts as a
// seat before the read model must show it (its projection lag is milliseconds
// locally, seconds on AWS).
const invitedGrace = time.Minute

// pendingInvitations lists the tenant's invitations the read model holds as
// pending and not expired (as ListInvitations shows them).
func (s *Service) pendingInvitations(ctx context.Context, tid events.TenantID) ([]projections.PendingInvitation, error) {
	if s.Reader == nil {
		return nil, nil
	}
	now := s.Clock.Now()
	var out []projections.PendingInvitation
	from := ""
	for {
		entries, err := s.Reader.List(ctx, projections.InvitationsProjection, tid, projections.InvitationsCollection, from, 500)
		if err != nil {
			return nil, storeError("list invitations", err)
		}
		for _, e := range entries {
			var p projections.PendingInvitation
			if err := json.Unmarshal(e.Value, &p); err != nil {
				return nil, storeError("decode invitation", err)
			}
			if now.Before(p.ExpiresAt) {
				out = append(out, p)
			}
		}
		if len(entries) < 500 {
			return out, nil
		}
		from = entries[len(entries)-1].Key
	}
}

// admitSeat checks the tenant's seats before a user is added or invited and
// returns the release to call when the command is done: seat-taking commands
// of a tenant run one at a time in a process, so two cannot take the last seat.
// An email that is an active member already takes no new seat (the command
// will answer 409, or replay a retried request).
func (s *Service) admitSeat(ctx context.Context, tid events.TenantID, email string) (func(), error) {
	st, err := s.entitlementState(ctx, tid)
	if err != nil {
		return nil, err
	}
	e, ok := billing.Resolve(st.plan, st.overrides, billing.FeatureSeats)
	if !ok || e.Allowed && e.Unlimited {
		return func() {}, nil
	}
	g := s.gate(tid)
	g.seats.Lock()
	r, err := s.roster(ctx, tid)
	if err != nil {
		g.seats.Unlock()
		return nil, err
	}
	if mem := activeByEmail(r, email); mem != nil {
		return g.seats.Unlock, nil
	}
	used, err := s.seatsUsed(ctx, tid, g)
	if err != nil {
		g.seats.Unlock()
		return nil, err
	}
	u, one := decimal.NewFromInt(int64(used)), decimal.NewFromInt(1)
	if !e.Admits(u, one) {
		g.seats.Unlock()
		return nil, s.limitError(st, e, u, one, nil)
	}
	return g.seats.Unlock, nil
}

// invited records an invitation this process created, so it counts as a seat
// before the read model shows it; uninvited forgets one revoked or accepted.
func (s *Service) invited(tid events.TenantID, id, email string, at time.Time) {
	g := s.gate(tid)
	g.mu.Lock()
	g.invited[id] = invitedSeat{email: email, at: at}
	g.mu.Unlock()
}

func (s *Service) uninvited(tid events.TenantID, id string) {
	g := s.gate(tid)
	g.mu.Lock()
	delete(g.invited, id)
	g.mu.Unlock()
}

// Entitle records an operator's override of one feature for one tenant
// (platform admins only; the CLI's tenants entitle). The actor is the
// operator, the reason is required.
func (s *Service) Entitle(ctx context.Context, m Meta, tenantID, feature string, action billing.OverrideAction, limit *decimal.Decimal, reason string) (EntitlementList, error) {
	if !m.Principal.Has(identity.RolePlatformAdmin) {
		return EntitlementList{}, domain.Errorf(domain.CodeForbidden, "only an operator can override entitlements")
	}
	tid := events.TenantID(tenantID)
	if err := tid.Validate(); err != nil {
		return EntitlementList{}, domain.FieldError("tenant", "not a tenant id")
	}
	ev := &billing.EntitlementOverridden{Feature: feature, Action: action, Limit: limit, Reason: reason, At: s.Clock.Now()}
	if err := billing.ValidateOverride(ev); err != nil {
		return EntitlementList{}, domain.FieldError("feature", "%v", err)
	}
	if _, err := s.loadTenant(ctx, tid); err != nil {
		return EntitlementList{}, err
	}
	if _, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: billing.EntitlementsStreamID, StreamType: billing.EntitlementsStreamType,
		Expected: events.AnyVersion, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
		Events: []events.NewEvent{newEvent(ev)},
	}); err != nil {
		return EntitlementList{}, storeError("record entitlement override", err)
	}
	s.dropEntitlementState(tid)
	return s.Entitlements(ctx, m, tenantID)
}
