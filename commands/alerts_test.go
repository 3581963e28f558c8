package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// alertCatalog: calls (sum) at 0.01, peak (max) and users (unique_count)
// unpriced, level (latest); plan "metered" limits calls at 1000 (notify) and
// item_writes at 100 (block) and prices item writes at 0.10 after 2
// included; "roomy" includes 1000 item writes; "defaults" declares the plan
// default alerts 80 and 100 percent of every limit.
const alertCatalog = `{"currency":"USD",
 "meters":[{"id":"calls","aggregation":"sum"},{"id":"peak","aggregation":"max"},
  {"id":"users","aggregation":"unique_count","property":"user"},{"id":"level","aggregation":"latest"}],
 "plans":[
 {"id":"metered","base_fee":"0","prices":[
   {"meter":"calls","model":"per_unit","unit_price":"0.01"},
   {"meter":"item_writes","model":"per_unit","unit_price":"0.10","included_units":2}],
  "features":{"calls":{"limit":1000,"on_exceed":"notify"},"item_writes":{"limit":100,"on_exceed":"block"}}},
 {"id":"roomy","base_fee":"0","prices":[
   {"meter":"calls","model":"per_unit","unit_price":"0.01"},
   {"meter":"item_writes","model":"per_unit","unit_price":"0.10","included_units":1000}]},
 {"id":"defaults","base_fee":"0","prices":[{"meter":"calls","model":"per_unit","unit_price":"0.01"}],
  "features":{"calls":{"limit":100,"on_exceed":"notify"},"item_writes":{"limit":50,"on_exceed":"block"}},
  "alerts":[{"percent_of_limit":80},{"percent_of_limit":100}]}]}`

type alertFix struct {
	t      *testing.T
	ctx    context.Context
	clk    *clock.Test
	store  *memstore.Store
	engine *projections.Engine
	cat    *billing.Catalog
	svc    *commands.Service
	tid    string
	admin  commands.Meta
	member commands.Meta
}

func newAlertFix(t *testing.T, plan string, start time.Time) *alertFix {
	t.Helper()
	cat, err := billing.ParseCatalog([]byte(alertCatalog))
	require.NoError(t, err)
	clk := clock.NewTest(start)
	store := memstore.New(memstore.WithClock(clk))
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Clock: clk})
	require.NoError(t, err)
	f := &alertFix{t: t, ctx: context.Background(), clk: clk, store: store, engine: engine, cat: cat}
	f.svc = f.newService()
	out, err := f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "a@acme.test", Password: "Sup3r-secret!", Plan: plan}, identity.ValidatePassword)
	require.NoError(t, err)
	f.tid = out.TenantID
	f.admin = commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
	f.member = commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: "someone", Roles: []string{ident.RoleTenantMember}}}
	f.ctx = events.WithTenantScope(f.ctx, events.TenantID(out.TenantID))
	return f
}

// newService is another process on the same store.
func (f *alertFix) newService() *commands.Service {
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(f.t, err)
	svc := &commands.Service{Store: f.store, Reader: f.engine.Reader(), Clock: f.clk, Plans: commands.Catalog{Catalog: f.cat}, Passwords: hasher}
	svc.Meter = &commands.Meter{Service: svc}
	return svc
}

func (f *alertFix) configure(svc *commands.Service, m commands.Meta, cap *string, ths ...billing.Threshold) (commands.AlertsView, error) {
	if ths == nil {
		ths = []billing.Threshold{}
	}
	return svc.ConfigureAlerts(f.ctx, m, f.tid, commands.AlertsRequest{Thresholds: ths, SpendCap: cap})
}

func (f *alertFix) usage(svc *commands.Service, recs ...commands.UsageRecord) error {
	_, err := svc.RecordUsage(f.ctx, f.admin, f.tid, commands.Catalog{Catalog: f.cat}, recs)
	return err
}

// reached lists the usage.threshold_reached events in the store as
// "period/threshold id", sorted, and fails on a (period, threshold) written twice.
func (f *alertFix) reached() []string {
	f.t.Helper()
	page, err := f.store.ReadAll(context.Background(), "", events.ReadOptions{Limit: 100000})
	require.NoError(f.t, err)
	var out []string
	seen := map[string]bool{}
	for _, ev := range page.Events {
		if ev.Type != billing.TypeThresholdReached {
			continue
		}
		r, err := events.DecodeAs[billing.ThresholdReached](schema.Registry, ev)
		require.NoError(f.t, err)
		k := r.Period.String() + "/" + r.ThresholdID
		require.False(f.t, seen[k], "%s written twice", k)
		require.Equal(f.t, billing.ThresholdStreamID(r.Period, r.ThresholdID), string(ev.StreamID))
		seen[k] = true
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func pct(n int) *int       { return &n }
func str(s string) *string { return &s }

func rec(id, meter, qty string, at time.Time) commands.UsageRecord {
	return commands.UsageRecord{ID: id, Meter: meter, Quantity: qty, Timestamp: at}
}

// TestAlertsFireOncePerThresholdAndPeriod: 40 concurrent reports over two
// processes cross thresholds together and each fires once; the next period
// fires them again; late usage of the earlier period fires for that period.
func TestAlertsFireOncePerThresholdAndPeriod(t *testing.T) {
	f := newAlertFix(t, "metered", time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	other := f.newService()
	_, err := f.configure(f.svc, f.admin, nil,
		billing.Threshold{Meter: "calls", Quantity: "20"},
		billing.Threshold{Meter: "calls", PercentOfLimit: pct(5)}, // 50 of 1000
		billing.Threshold{Subtotal: "0.30"},                       // 30 calls at 0.01
		billing.Threshold{Meter: "calls", Quantity: "100"},
	)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := f.svc
			if i%2 == 1 {
				svc = other
			}
			errs <- f.usage(svc, rec(fmt.Sprintf("c-%d", i), "calls", "1", f.clk.Now()))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"2026-03/q-calls-20", "2026-03/s-0.3"}, f.reached(), "40 calls: 20 and 0.30 reached, once each")

	require.NoError(t, f.usage(other, rec("c-more", "calls", "10", f.clk.Now())))
	assert.Equal(t, []string{"2026-03/p-calls-5", "2026-03/q-calls-20", "2026-03/s-0.3"}, f.reached(), "50 calls reach 5% of 1000")
	require.NoError(t, f.usage(f.svc, rec("c-retry", "calls", "1", f.clk.Now()), rec("c-0", "calls", "1", f.clk.Now())))
	assert.Len(t, f.reached(), 3, "more usage fires nothing again")

	// The next period starts from nothing and fires again.
	require.NoError(t, f.clk.Set(time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC)))
	require.NoError(t, f.usage(f.svc, rec("april-1", "calls", "25", f.clk.Now())))
	assert.Equal(t, []string{"2026-03/p-calls-5", "2026-03/q-calls-20", "2026-03/s-0.3", "2026-04/q-calls-20"}, f.reached())

	// Late usage of March (51 so far) takes it to 101: 100 fires for March.
	require.NoError(t, f.usage(other, rec("march-late", "calls", "50", time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC))))
	got := f.reached()
	assert.Contains(t, got, "2026-03/q-calls-100")
	assert.NotContains(t, got, "2026-04/q-calls-100")

	// The alert's event carries the threshold, the value that reached it and the period.
	evs, err := f.store.Load(f.ctx, events.TenantID(f.tid), events.StreamID(billing.ThresholdStreamID(billing.Period{Year: 2026, Month: 3}, "s-0.3")), 1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	r, err := events.DecodeAs[billing.ThresholdReached](schema.Registry, evs[0])
	require.NoError(t, err)
	assert.Equal(t, billing.ThresholdSubtotal, r.Kind)
	assert.Equal(t, "0.3", r.Value.String())
	assert.True(t, r.Reached.GreaterThanOrEqual(r.Value), "reached %s", r.Reached)
	assert.Equal(t, "USD", r.Currency)
	assert.Equal(t, "tenant", r.Source)

	// The outbox makes each one a notification, and the audit log shows them.
	page, err := f.store.ReadAll(context.Background(), "", events.ReadOptions{Limit: 100000})
	require.NoError(t, err)
	require.NoError(t, f.engine.Handle(context.Background(), page.Events))
	notes, err := f.engine.Reader().List(context.Background(), projections.OutboxProjection, projections.PlatformTenant, projections.OutboxCollection, "", 1000)
	require.NoError(t, err)
	alerts := 0
	for _, e := range notes {
		var n projections.Notification
		require.NoError(t, json.Unmarshal(e.Value, &n))
		if n.Type == billing.TypeThresholdReached && n.TenantID == f.tid {
			alerts++
		}
	}
	assert.Equal(t, len(got), alerts, "one notification per alert")
	audit, err := f.svc.AuditLog(f.ctx, f.admin, f.tid, "", 500)
	require.NoError(t, err)
	inAudit := 0
	for _, e := range audit.Entries {
		if e.Action == billing.TypeThresholdReached {
			inAudit++
			assert.NotEmpty(t, e.Details["threshold_id"])
		}
	}
	assert.Equal(t, len(got), inAudit)
}

// TestAlertsDoNotDependOnDeliveryOrder: the same usage records delivered in
// shuffled orders, in batches of random size, some twice, fire the same set
// of alerts as in order.
func TestAlertsDoNotDependOnDeliveryOrder(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 11))
	march := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	april := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	var recs []commands.UsageRecord
	for i := range 60 {
		at := march.Add(time.Duration(rng.IntN(28*24)) * time.Hour)
		if i%3 == 0 {
			at = april.Add(time.Duration(rng.IntN(48)) * time.Hour)
		}
		switch i % 4 {
		case 0, 1:
			recs = append(recs, rec(fmt.Sprintf("c%d", i), "calls", fmt.Sprint(rng.IntN(9)+1), at))
		case 2:
			recs = append(recs, rec(fmt.Sprintf("p%d", i), "peak", fmt.Sprint(rng.IntN(100)), at))
		case 3:
			r := rec(fmt.Sprintf("u%d", i), "users", "1", at)
			r.Properties = map[string]string{"user": fmt.Sprintf("user-%d", rng.IntN(12))}
			recs = append(recs, r)
		}
	}
	ths := []billing.Threshold{
		{Meter: "calls", Quantity: "60"}, {Meter: "calls", Quantity: "150"}, {Meter: "calls", Quantity: "100000"},
		{Meter: "calls", PercentOfLimit: pct(10)}, {Meter: "peak", Quantity: "90"}, {Meter: "peak", Quantity: "99"},
		{Meter: "users", Quantity: "8"}, {Meter: "users", Quantity: "12"}, {Subtotal: "1.00"}, {Subtotal: "2.50"},
	}
	run := func(order []commands.UsageRecord) []string {
		// The clock after the last record, so every record is in the past.
		f := newAlertFix(t, "metered", start)
		require.NoError(t, f.clk.Set(time.Date(2026, 4, 3, 12, 0, 0, 0, time.UTC)))
		_, err := f.configure(f.svc, f.admin, nil, ths...)
		require.NoError(t, err)
		for i := 0; i < len(order); {
			n := min(1+rng.IntN(4), len(order)-i)
			require.NoError(t, f.usage(f.svc, order[i:i+n]...))
			if rng.IntN(5) == 0 { // a redelivery
				require.NoError(t, f.usage(f.svc, order[i]))
			}
			i += n
		}
		return f.reached()
	}
	sorted := append([]commands.UsageRecord(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Timestamp.Before(sorted[j].Timestamp) })
	want := run(sorted)
	require.NotEmpty(t, want)
	require.Less(t, len(want), 2*len(ths), "some thresholds are never reached, or the test proves little")
	for i := range 4 {
		shuffled := append([]commands.UsageRecord(nil), recs...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		assert.Equal(t, want, run(shuffled), "shuffle %d", i)
	}
}

// TestPlanDefaultAlerts: a plan's default percents apply to every metered
// limit until the tenant configures its own, which replaces them.
func TestPlanDefaultAlerts(t *testing.T) {
	f := newAlertFix(t, "defaults", time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	v, err := f.svc.Alerts(f.ctx, f.member, f.tid)
	require.NoError(t, err)
	assert.Equal(t, "plan", v.Source)
	var ids []string
	for _, a := range v.Applies {
		ids = append(ids, a.ID+"="+a.Value)
	}
	assert.Equal(t, []string{"p-calls-80=80", "p-item_writes-80=40", "p-calls-100=100", "p-item_writes-100=50"}, ids)

	require.NoError(t, f.usage(f.svc, rec("a", "calls", "85", f.clk.Now())))
	assert.Equal(t, []string{"2026-03/p-calls-80"}, f.reached())

	// Item writes reach their alerts when the Meter flushes them.
	for i := range 40 {
		_, err := f.svc.PutItem(f.ctx, f.admin, commands.PutItem{Tenant: f.tid, ItemID: fmt.Sprintf("i%d", i), Data: json.RawMessage(`{}`)})
		require.NoError(t, err)
	}
	assert.Len(t, f.reached(), 1, "not flushed yet")
	require.NoError(t, f.svc.Meter.Flush(f.ctx))
	assert.Equal(t, []string{"2026-03/p-calls-80", "2026-03/p-item_writes-80"}, f.reached())

	// The tenant's own (empty) configuration replaces the plan's.
	v, err = f.configure(f.svc, f.admin, nil)
	require.NoError(t, err)
	assert.Equal(t, "tenant", v.Source)
	assert.Empty(t, v.Applies)
	require.NoError(t, f.usage(f.svc, rec("b", "calls", "50", f.clk.Now())))
	assert.Len(t, f.reached(), 2, "100% of calls passed, but the tenant turned the defaults off")
}

// TestSpendCapBlocksLikeALimit: with a cap, the item write and the usage
// report that would take the subtotal past it are refused with the cap's
// 402, writing nothing, under 40 concurrent writes too; raising the cap (from
// another process) or an upgrade lifts it on the next action.
func TestSpendCapBlocksLikeALimit(t *testing.T) {
	f := newAlertFix(t, "metered", time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	other := f.newService()
	_, err := f.configure(f.svc, f.admin, str("0.50"))
	require.NoError(t, err)
	n := 0
	write := func(svc *commands.Service) error {
		n++
		_, err := svc.PutItem(f.ctx, f.admin, commands.PutItem{Tenant: f.tid, ItemID: fmt.Sprintf("i%d", n), Data: json.RawMessage(`{}`)})
		return err
	}
	capped := func(err error) *commands.SpendCapError {
		var sc *commands.SpendCapError
		if errors.As(err, &sc) {
			return sc
		}
		return nil
	}

	// 2 writes are included, then 0.10 each: 5 more reach 0.50 exactly, the 8th would pass it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refusedN := 0, 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			n++
			id := fmt.Sprintf("i%d", n)
			mu.Unlock()
			_, err := f.svc.PutItem(f.ctx, f.admin, commands.PutItem{Tenant: f.tid, ItemID: id, Data: json.RawMessage(`{}`)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case capped(err) != nil:
				refusedN++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 7, ok, "2 included + 5 at 0.10 reach the cap of 0.50")
	assert.Equal(t, 33, refusedN)

	err = write(f.svc)
	sc := capped(err)
	require.NotNil(t, sc, "%v", err)
	assert.Equal(t, domain.CodeLimitExceeded, domain.ErrorCode(err), "402")
	assert.Equal(t, "0.5", sc.Cap.String())
	assert.Equal(t, "0.5", sc.Subtotal.String())
	assert.Equal(t, "0.6", sc.SubtotalAfter.String())
	assert.Equal(t, "spend_cap", sc.ProblemExtensions()["feature"])

	// A usage report of a priced meter past the cap is refused whole; nothing is written.
	require.NoError(t, f.svc.Meter.Flush(f.ctx))
	before := f.subtotal()
	err = f.usage(f.svc, rec("c1", "calls", "1", f.clk.Now()))
	require.NotNil(t, capped(err), "%v", err)
	assert.Equal(t, before, f.subtotal(), "the refused report wrote nothing")
	// Usage of an unpriced meter adds nothing to the subtotal: never refused by the cap.
	require.NoError(t, f.usage(f.svc, rec("p1", "peak", "5", f.clk.Now())))

	// Raising the cap in another process lifts it at once in this one.
	_, err = f.configure(other, f.admin, str("10.00"))
	require.NoError(t, err)
	require.NoError(t, write(f.svc), "the raised cap admits the write")
	require.NoError(t, f.usage(f.svc, rec("c2", "calls", "10", f.clk.Now())))

	// Lowered again, then an upgrade to a plan that includes the writes lifts it.
	_, err = f.configure(f.svc, f.admin, str("0.10"))
	require.NoError(t, err)
	require.NotNil(t, capped(write(f.svc)))
	_, err = f.svc.ChangePlan(f.ctx, f.admin, f.tid, "roomy")
	require.NoError(t, err)
	require.NoError(t, write(f.svc), "on roomy the write adds nothing to the subtotal")
}

func (f *alertFix) subtotal() string {
	f.t.Helper()
	s, err := (&commands.Billing{Service: f.svc}).Summary(f.ctx, f.admin, f.tid)
	require.NoError(f.t, err)
	return s.Subtotal
}

// TestConfigureAlertsValidatesStrictlyAndIsAdminOnly: a member or another
// tenant is refused, every malformed configuration is a 400 naming its field
// and changes nothing, and a reused Idempotency-Key with another body is a 422.
func TestConfigureAlertsValidatesStrictlyAndIsAdminOnly(t *testing.T) {
	f := newAlertFix(t, "metered", time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	_, err := f.configure(f.svc, f.member, nil, billing.Threshold{Subtotal: "5"})
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "a member: %v", err)
	otherTenant := commands.Meta{Principal: ident.Principal{TenantID: "other-tenant", UserID: "u", Roles: []string{ident.RoleTenantAdmin}}}
	_, err = f.configure(f.svc, otherTenant, nil, billing.Threshold{Subtotal: "5"})
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "another tenant's admin: %v", err)
	_, err = f.svc.Alerts(f.ctx, otherTenant, f.tid)
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))

	many := make([]billing.Threshold, 101)
	for i := range many {
		many[i] = billing.Threshold{Meter: "calls", Quantity: fmt.Sprint(i + 1)}
	}
	for _, tc := range []struct {
		name  string
		ths   []billing.Threshold
		cap   *string
		field string
	}{
		{"unknown meter", []billing.Threshold{{Meter: "nope", Quantity: "1"}}, nil, "thresholds[0].meter"},
		{"no kind", []billing.Threshold{{Meter: "calls"}}, nil, "thresholds[0]"},
		{"two kinds", []billing.Threshold{{Meter: "calls", Quantity: "1", PercentOfLimit: pct(5)}}, nil, "thresholds[0]"},
		{"percent 0", []billing.Threshold{{Meter: "calls", PercentOfLimit: pct(0)}}, nil, "thresholds[0].percent_of_limit"},
		{"percent 1001", []billing.Threshold{{Meter: "calls", PercentOfLimit: pct(1001)}}, nil, "thresholds[0].percent_of_limit"},
		{"percent of an unlimited meter", []billing.Threshold{{Meter: "peak", PercentOfLimit: pct(50)}}, nil, "thresholds[0].meter"},
		{"quantity not a decimal", []billing.Threshold{{Meter: "calls", Quantity: "lots"}}, nil, "thresholds[0].quantity"},
		{"quantity with an exponent", []billing.Threshold{{Meter: "calls", Quantity: "1e5"}}, nil, "thresholds[0].quantity"},
		{"negative quantity", []billing.Threshold{{Meter: "calls", Quantity: "-1"}}, nil, "thresholds[0].quantity"},
		{"zero quantity", []billing.Threshold{{Meter: "calls", Quantity: "0"}}, nil, "thresholds[0].quantity"},
		{"quantity without a meter", []billing.Threshold{{Quantity: "5"}}, nil, "thresholds[0].meter"},
		{"a latest meter", []billing.Threshold{{Meter: "level", Quantity: "5"}}, nil, "thresholds[0].meter"},
		{"subtotal in tenths of cents", []billing.Threshold{{Subtotal: "1.005"}}, nil, "thresholds[0].subtotal"},
		{"subtotal with a meter", []billing.Threshold{{Meter: "calls", Subtotal: "1"}}, nil, "thresholds[0].meter"},
		{"the same threshold twice", []billing.Threshold{{Subtotal: "1.50"}, {Subtotal: "1.5"}}, nil, "thresholds[1]"},
		{"101 thresholds", many, nil, "thresholds"},
		{"cap not a decimal", nil, str("ten"), "spend_cap"},
		{"negative cap", nil, str("-1"), "spend_cap"},
		{"cap in tenths of cents", nil, str("0.001"), "spend_cap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.configure(f.svc, f.admin, tc.cap, tc.ths...)
			require.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), "%v", err)
			var de *domain.Error
			require.True(t, errors.As(err, &de))
			assert.Equal(t, tc.field, de.Field, de.Message)
		})
	}
	v, err := f.svc.Alerts(f.ctx, f.admin, f.tid)
	require.NoError(t, err)
	assert.Equal(t, int64(0), v.Version, "no refused configuration was stored")

	keyed := f.admin
	keyed.IdempotencyKey, keyed.Fingerprint = "k-1", "body-1"
	first, err := f.configure(f.svc, keyed, str("20.00"), billing.Threshold{Subtotal: "5.00"})
	require.NoError(t, err)
	assert.Equal(t, "20", *first.SpendCap)
	again, err := f.configure(f.svc, keyed, str("20.00"), billing.Threshold{Subtotal: "5.00"})
	require.NoError(t, err)
	assert.Equal(t, first, again, "a retry answers what the first attempt did")
	keyed.Fingerprint = "body-2"
	_, err = f.configure(f.svc, keyed, str("99.00"))
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "the key with another body: %v", err)
	v, err = f.svc.Alerts(f.ctx, f.member, f.tid)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v.Version, "one configuration stored")
	assert.Equal(t, "20", *v.SpendCap)
	assert.Equal(t, []commands.ThresholdView{{ID: "s-5", Threshold: billing.Threshold{Subtotal: "5"}}}, v.Thresholds)
}
