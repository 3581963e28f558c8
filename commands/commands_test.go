package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

type fixture struct {
	ctx    context.Context
	clk    *clock.Test
	store  *memstore.Store
	engine *projections.Engine
	svc    *commands.Service
	bill   *commands.Billing
	cat    *billing.Catalog
}

func newFixture(t *testing.T, start time.Time) *fixture {
	t.Helper()
	clk := clock.NewTest(start)
	store := memstore.New(memstore.WithClock(clk))
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Clock: clk})
	require.NoError(t, err)
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	cat := catalog.Default()
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher}
	return &fixture{ctx: context.Background(), clk: clk, store: store, engine: engine, svc: svc, bill: &commands.Billing{Service: svc, Catalog: cat}, cat: cat}
}

// project applies everything in the store to the read models.
func (f *fixture) project(t *testing.T) {
	t.Helper()
	page, err := f.store.ReadAll(f.ctx, "", events.ReadOptions{Limit: 100000})
	require.NoError(t, err)
	require.NoError(t, f.engine.Handle(f.ctx, page.Events))
}

func (f *fixture) onboard(t *testing.T, name string) (string, commands.Meta) {
	t.Helper()
	out, err := f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: name, Email: "admin@" + name + ".test", Password: "Sup3r-secret!", Plan: "starter"}, identity.ValidatePassword)
	require.NoError(t, err)
	return out.TenantID, commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
}

func TestOnboardIsIdempotentAndNamesAreUniqueIgnoringCase(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	req := commands.Onboard{TenantName: "Acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}
	first, err := f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "k1"}, req, identity.ValidatePassword)
	require.NoError(t, err)
	again, err := f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "k1"}, req, identity.ValidatePassword)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a retry returns the first result")
	assert.Equal(t, "free", first.Plan, "the default plan")

	_, err = f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: "ACME", Email: "other@acme.test", Password: "Sup3r-secret!"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
	// Without a key, the same person onboarding again gets a conflict too: the tenant is complete.
	_, err = f.svc.Onboard(f.ctx, commands.Meta{}, req, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
}

// A reservation stored before reservations carried a password verifier cannot be
// resumed by its email alone any more (that let anyone who knew the name and the
// email finish the onboarding with their own password); it resumes only with its
// Idempotency-Key, or expires.
func TestOnboardDoesNotResumeALegacyReservationByEmail(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	// Simulate a crash after step 1: only the name reservation exists.
	_, err := f.store.Append(f.ctx, events.AppendRequest{
		Tenant: projections.PlatformTenant, Stream: events.StreamID(tenant.NameStreamID("acme")), StreamType: tenant.NameStreamType,
		Expected: events.NoStream, Events: []events.NewEvent{mustEvent(t, &tenant.NameReserved{Name: "acme", TenantID: "t-half", AdminEmail: "admin@acme.test", UserID: "u-half", Plan: "pro"})},
	})
	require.NoError(t, err)
	_, err = f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "mallory@evil.test", Password: "Sup3r-secret!"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "someone else cannot take over a half-made tenant")
	_, err = f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "no verifier: the email alone proves nothing")

	// Its time is the envelope's: a day later the name is free again.
	require.NoError(t, f.clk.Set(f.clk.Now().Add(commands.DefaultReservationTTL)))
	out, err := f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, identity.ValidatePassword)
	require.NoError(t, err)
	assert.NotEqual(t, "t-half", out.TenantID)
	_, err = f.svc.GetTenant(f.ctx, commands.Meta{Principal: ident.Principal{TenantID: "t-half"}}, "t-half")
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(err), "the abandoned tenant never exists")
}

func mustEvent(t *testing.T, payload any) events.NewEvent {
	t.Helper()
	ne, err := schemaNew(payload)
	require.NoError(t, err)
	return ne
}

func TestUsageIsIdempotentByIDAndValidatedAsAWhole(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	tid, m := f.onboard(t, "acme")
	meters := commands.Catalog{Catalog: f.cat}
	rec := func(id, meter, q string, at time.Time) commands.UsageRecord {
		return commands.UsageRecord{ID: id, Meter: meter, Quantity: q, Timestamp: at}
	}
	res, err := f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{rec("a", "compute_seconds", "1.5", now), rec("b", "compute_seconds", "2", now)})
	require.NoError(t, err)
	assert.Equal(t, commands.UsageResult{Accepted: 2, Duplicates: 0}, res)
	res, err = f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{rec("b", "compute_seconds", "2", now), rec("c", "compute_seconds", "3", now.Add(-time.Hour))})
	require.NoError(t, err)
	assert.Equal(t, commands.UsageResult{Accepted: 1, Duplicates: 1}, res)

	bad := []struct {
		name  string
		rec   commands.UsageRecord
		field string
	}{
		{"unknown meter", rec("x", "nope", "1", now), "events[1].meter"},
		{"built-in meter", rec("x", "api_requests", "1", now), "events[1].meter"},
		{"negative", rec("x", "compute_seconds", "-1", now), "events[1].quantity"},
		{"exponent", rec("x", "compute_seconds", "1e3", now), "events[1].quantity"},
		{"future", rec("x", "compute_seconds", "1", now.Add(time.Hour)), "events[1].timestamp"},
		{"too old", rec("x", "compute_seconds", "1", now.Add(-36*24*time.Hour)), "events[1].timestamp"},
		{"no id", rec("", "compute_seconds", "1", now), "events[1].id"},
		{"id repeated in the request", rec("ok-id repeated in the request", "compute_seconds", "1", now), "events[1].id"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{rec("ok-"+tc.name, "compute_seconds", "1", now), tc.rec})
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, domain.CodeInvalid, de.Code)
			assert.Equal(t, tc.field, de.Field)
		})
	}
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), events.StreamID(commands.UsageStreamID("2026-11")), 1)
	require.NoError(t, err)
	var ids []string
	for _, ev := range evs {
		var rep struct {
			Records []struct{ ID string } `json:"records"`
		}
		require.NoError(t, json.Unmarshal(ev.Data, &rep))
		for _, r := range rep.Records {
			ids = append(ids, r.ID)
		}
	}
	assert.ElementsMatch(t, []string{"a", "b", "c"}, ids, "each id stored once; rejected batches wrote nothing, not even their valid records")
}

// TestConcurrentUsageRetriesStoreEachRecordOnce races clients retrying
// overlapping batches: every record is stored exactly once and the answers add up.
func TestConcurrentUsageRetriesStoreEachRecordOnce(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	tid, m := f.onboard(t, "acme")
	meters := commands.Catalog{Catalog: f.cat}
	const clients, records = 6, 200
	batch := make([]commands.UsageRecord, records)
	for i := range batch {
		batch[i] = commands.UsageRecord{ID: fmt.Sprintf("r-%03d", i), Meter: "compute_seconds", Quantity: "1", Timestamp: now}
	}
	results := make(chan commands.UsageResult, clients)
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		go func() {
			res, err := f.svc.RecordUsage(f.ctx, m, tid, meters, batch)
			results <- res
			errs <- err
		}()
	}
	accepted, dups := 0, 0
	for c := 0; c < clients; c++ {
		require.NoError(t, <-errs)
		r := <-results
		accepted += r.Accepted
		dups += r.Duplicates
	}
	assert.Equal(t, records, accepted, "each record accepted by exactly one client")
	assert.Equal(t, records*(clients-1), dups)
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), events.StreamID(commands.UsageStreamID("2026-11")), 1)
	require.NoError(t, err)
	seen := map[string]int{}
	for _, ev := range evs {
		var rep struct {
			Records []struct{ ID string } `json:"records"`
		}
		require.NoError(t, json.Unmarshal(ev.Data, &rep))
		for _, r := range rep.Records {
			seen[r.ID]++
		}
	}
	assert.Len(t, seen, records)
	for id, n := range seen {
		assert.Equal(t, 1, n, "record %s stored once", id)
	}
}

func TestCloseIsIdempotentAndTheAuditMatchesOnlyTheTruth(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "acme")
	meters := commands.Catalog{Catalog: f.cat}
	for i := 0; i < 5; i++ {
		_, err := f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{{ID: fmt.Sprint("u", i), Meter: "compute_seconds", Quantity: "1000.25", Timestamp: f.clk.Now()}})
		require.NoError(t, err)
	}
	_, err := f.svc.ChangePlan(f.ctx, m, tid, "pro")
	require.NoError(t, err)
	p, _ := billing.ParsePeriod("2026-10")

	_, err = f.bill.Close(f.ctx, events.TenantID(tid), p)
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "a period cannot close before its end plus grace")

	require.NoError(t, f.clk.Set(time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)))
	first, err := f.bill.Close(f.ctx, events.TenantID(tid), p)
	require.NoError(t, err)
	require.True(t, first.Issued)
	assert.Equal(t, int64(1), first.Invoice.Number)
	assert.Len(t, first.Invoice.Segments, 2, "the plan change split the period")
	second, err := f.bill.Close(f.ctx, events.TenantID(tid), p)
	require.NoError(t, err)
	assert.False(t, second.Issued)
	assert.Equal(t, first.Invoice.InvoiceID, second.Invoice.InvoiceID)
	invs, err := f.store.Load(f.ctx, events.TenantID(tid), events.StreamID(commands.InvoiceStreamID(p)), 1)
	require.NoError(t, err)
	assert.Len(t, invs, 1, "one invoice however often the period is closed")

	rep, err := f.bill.Audit(f.ctx, events.TenantID(tid), p)
	require.NoError(t, err)
	assert.True(t, rep.Match, "%+v", rep)
	assert.Equal(t, first.Invoice.Subtotal.StringFixed(2), rep.RecomputedSubtotal)
	// Amounts read as on the invoice: with the currency's two minor digits.
	for _, l := range rep.Lines {
		assert.Regexp(t, `^[0-9]+\.[0-9]{2}$`, l.IssuedAmount, l.Key)
		assert.Equal(t, l.IssuedAmount, l.RecomputedAmount, l.Key)
	}

	// Late usage for the closed period does not change what the audit checks.
	_, err = f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{{ID: "late", Meter: "compute_seconds", Quantity: "5", Timestamp: time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)}})
	require.NoError(t, err)
	rep, err = f.bill.Audit(f.ctx, events.TenantID(tid), p)
	require.NoError(t, err)
	assert.True(t, rep.Match)

	// An invoice rated with other prices than the price book's must not match.
	// The audit reads prices only from the store, so the forgery is an invoice
	// of November appended as if issued, rated with every base fee a cent dearer.
	tampered := *f.cat
	tampered.Plans = append([]billing.Plan(nil), f.cat.Plans...)
	for i := range tampered.Plans {
		tampered.Plans[i].BaseFee = tampered.Plans[i].BaseFee.Add(decimal.RequireFromString("0.01"))
	}
	forged, err := billing.ParseCatalog(mustJSON(t, &tampered))
	require.NoError(t, err)
	nov := p.Next()
	segs := []billing.PlanSegment{{Plan: first.Invoice.Segments[1].Plan, Version: 1, From: nov.Start(), To: nov.End()}}
	l, err := billing.NewLedger(forged, nov)
	require.NoError(t, err)
	inv, err := billing.Rate(forged, segs, l)
	require.NoError(t, err)
	inv.InvoiceID, inv.Number, inv.TenantID, inv.IssuedAt = commands.InvoiceID(events.TenantID(tid), nov), 2, tid, nov.End()
	ne, err := schema.Registry.New(&billing.Issued{Invoice: inv, ProfileVersion: 2})
	require.NoError(t, err)
	_, err = f.store.Append(f.ctx, events.AppendRequest{Tenant: events.TenantID(tid), Stream: events.StreamID(commands.InvoiceStreamID(nov)),
		StreamType: billing.InvoiceStreamType, Expected: events.NoStream, Actor: "test", Events: []events.NewEvent{ne}})
	require.NoError(t, err)
	rep, err = f.bill.Audit(f.ctx, events.TenantID(tid), nov)
	require.NoError(t, err)
	assert.False(t, rep.Match)
	var differs int
	for _, l := range rep.Lines {
		if !l.Match {
			differs++
		}
	}
	assert.Positive(t, differs, "the report names the lines that differ")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestItemsHonourIfMatchAndTenantBoundaries(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	a, ma := f.onboard(t, "acme")
	b, mb := f.onboard(t, "globex")
	it, err := f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "doc", Data: json.RawMessage(`{"v": 1}`)})
	require.NoError(t, err)
	assert.Equal(t, int64(1), it.Version)
	_, err = f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "doc", Data: json.RawMessage(`{"v":2}`), If: commands.IfVersion(5)})
	assert.Equal(t, domain.CodePreconditionFailed, domain.ErrorCode(err))
	it, err = f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "doc", Data: json.RawMessage(`{"v":2}`), If: commands.IfVersion(1)})
	require.NoError(t, err)
	assert.Equal(t, int64(2), it.Version)

	// Wildcards: If-None-Match: * creates only; If-Match: * updates only.
	_, err = f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "doc", Data: json.RawMessage(`{}`), If: commands.IfAbsent()})
	assert.Equal(t, domain.CodePreconditionFailed, domain.ErrorCode(err))
	_, err = f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "new", Data: json.RawMessage(`{}`), If: commands.IfExists()})
	assert.Equal(t, domain.CodePreconditionFailed, domain.ErrorCode(err))
	created, err := f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "new", Data: json.RawMessage(`{}`), If: commands.IfAbsent()})
	require.NoError(t, err)
	assert.Equal(t, int64(1), created.Version)
	updated, err := f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "new", Data: json.RawMessage(`{"x":1}`), If: commands.IfExists()})
	require.NoError(t, err)
	assert.Equal(t, int64(2), updated.Version)

	// B cannot read or write A's item by naming A in the path.
	_, err = f.svc.GetItem(f.ctx, mb, a, "doc")
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
	_, err = f.svc.PutItem(f.ctx, mb, commands.PutItem{Tenant: a, ItemID: "doc", Data: json.RawMessage(`{}`)})
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
	// B's own item with the same id is another item.
	_, err = f.svc.GetItem(f.ctx, mb, b, "doc")
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(err))

	// Reads see writes at once, even before the projection ran; after it, too.
	got, err := f.svc.GetItem(f.ctx, ma, a, "doc")
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":2}`, string(got.Data))
	f.project(t)
	_, err = f.svc.PutItem(f.ctx, ma, commands.PutItem{Tenant: a, ItemID: "doc", Data: json.RawMessage(`{"v":3}`)})
	require.NoError(t, err)
	got, err = f.svc.GetItem(f.ctx, ma, a, "doc")
	require.NoError(t, err)
	assert.Equal(t, int64(3), got.Version, "read model plus the stream's tail")
	require.NoError(t, f.svc.DeleteItem(f.ctx, ma, a, "doc", commands.IfVersion(3)))
	_, err = f.svc.GetItem(f.ctx, ma, a, "doc")
	assert.Equal(t, domain.CodeNotFound, domain.ErrorCode(err))
	f.project(t)
	bytes, err := f.svc.StoredBytes(f.ctx, events.TenantID(a))
	require.NoError(t, err)
	assert.Equal(t, int64(len(`{"x":1}`)), bytes, "only the item \"new\" is left after the delete")
}

func TestUsageWindowIsConfigurable(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	f.svc.UsageWindow = 10 * 24 * time.Hour
	tid, m := f.onboard(t, "acme")
	meters := commands.Catalog{Catalog: f.cat}
	_, err := f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{{ID: "old", Meter: "compute_seconds", Quantity: "1", Timestamp: now.Add(-11 * 24 * time.Hour)}})
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "older than 10 days")
	res, err := f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{{ID: "recent", Meter: "compute_seconds", Quantity: "1", Timestamp: now.Add(-9 * 24 * time.Hour)}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Accepted)
}
