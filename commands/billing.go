package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Catalog adapts the billing catalogue to the ports commands need.
type Catalog struct{ *billing.Catalog }

// HasPlan implements PlanCatalog.
func (c Catalog) HasPlan(id string) bool { _, err := c.Plan(id); return err == nil }

// DefaultPlan implements PlanCatalog: "free" when it exists, else the first plan.
func (c Catalog) DefaultPlan() string {
	if c.HasPlan("free") {
		return "free"
	}
	return c.Plans[0].ID
}

// CustomMeter implements MeterCatalog: clients may report declared meters only,
// never the built-in ones the platform measures itself.
func (c Catalog) CustomMeter(id string) bool {
	if _, ok := c.Meter(id); !ok {
		return false
	}
	switch id {
	case metering.MeterAPIRequests, metering.MeterItemWrites, metering.MeterStorageBytes:
		return false
	}
	return true
}

// Billing computes ledgers and invoices from the event store. Ledgers are folded
// from the store itself, not from a projection: the summary a tenant sees, the
// invoice a close issues and the audit finance runs are the same fold of the same
// events (docs/ARCHITECTURE.md, decision 6), and the summary never lags. A per-period cache folds
// only what was appended since the last look.
//
// Prices come from the price book in the store (docs/ARCHITECTURE.md, decision
// 14): every segment is rated with the plan version in force, so a new price
// never re-rates an issued invoice.
type Billing struct {
	Service *Service
	// Catalog is the catalogue configured at start, published into an empty
	// price book on first use (the audit never publishes: with an empty book
	// it rates old data with this catalogue as version 1 of its plans).
	Catalog *billing.Catalog
	// Grace is how long after a period ends it may be closed (0: DefaultGrace),
	// so usage reported a little late still lands on the period's own invoice.
	Grace time.Duration
	Log   *slog.Logger
	// OnIssued, when set, is told about each newly issued invoice (for metrics).
	OnIssued func(billing.Invoice)
	// AuditReadModel makes Audit also compare the ledgers read model with the
	// fold of the store (the CLI turns it on; it needs the projection running).
	AuditReadModel bool

	mu    sync.Mutex
	cache map[ledgerKey]*cachedLedger
	// closed remembers, per tenant, the last period CloseThrough saw closed.
	closed map[events.TenantID]billing.Period
}

type ledgerKey struct {
	tenant events.TenantID
	period billing.Period
}

type cachedLedger struct {
	mu             sync.Mutex
	ledger         *billing.Ledger
	segs           []billing.PlanSegment
	usageVersion   int64
	profileVersion int64
	bookVersion    int
	opening        map[string]decimal.Decimal
}

// fold is a period's ledger with what it was computed from.
type fold struct {
	ledger         *billing.Ledger
	segs           []billing.PlanSegment
	usageVersion   int64
	profileVersion int64
	opening        map[string]decimal.Decimal
	profile        tenant.Tenant
	book           *billing.Book // the price book the fold was rated with (current)
}

// DefaultGrace is how long after a period ends it may be closed unless
// Billing.Grace says otherwise: late usage of the last minutes still counts.
const DefaultGrace = time.Hour

func (b *Billing) grace() time.Duration {
	if b.Grace > 0 {
		return b.Grace
	}
	return DefaultGrace
}

// profileHistory returns the tenant's profile and its plan timeline.
func (b *Billing) profileHistory(ctx context.Context, tid events.TenantID) (tenant.Tenant, []planAt, error) {
	evs, err := b.Service.Store.Load(ctx, tid, tenant.StreamID, 1)
	if errors.Is(err, events.ErrNotFound) {
		return tenant.Tenant{}, nil, domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return tenant.Tenant{}, nil, storeError("load tenant", err)
	}
	var t tenant.Tenant
	var timeline []planAt
	for _, ev := range evs {
		p, err := schema.Registry.Decode(ev)
		if err != nil {
			return tenant.Tenant{}, nil, storeError("decode tenant", err)
		}
		t.Apply(ev.Version, p)
		switch e := p.(type) {
		case *tenant.Onboarded:
			timeline = append(timeline, planAt{e.At.UTC(), e.Plan, billing.EffectiveVersion(e.PlanVersion)})
		case *tenant.PlanChanged:
			timeline = append(timeline, planAt{e.At.UTC(), e.To, billing.EffectiveVersion(e.PlanVersion)})
		case *tenant.OffboardingStarted:
			// Billing ends here: the period is billed up to At (the final
			// invoice), later ones have no segments (docs/lifecycle.md).
			timeline = append(timeline, planAt{at: e.At.UTC()})
		}
	}
	if t.ID == "" {
		// Only tenant.reservation_expired: an onboarding that never completed.
		return tenant.Tenant{}, nil, domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	return t, timeline, nil
}

type planAt struct {
	at      time.Time
	plan    string // "": the end of billing (offboarding)
	version int    // effective: events without a version mean 1
}

// segmentsOf cuts a period into plan segments from the plan timeline; none when
// the tenant did not exist during the period. A change of plan version (a
// migration) cuts a segment as a change of plan does.
func segmentsOf(p billing.Period, timeline []planAt) []billing.PlanSegment {
	var segs []billing.PlanSegment
	for i, pa := range timeline {
		if pa.plan == "" {
			break // offboarded: nothing after is billed
		}
		from, to := pa.at, p.End()
		if i+1 < len(timeline) {
			to = timeline[i+1].at
		}
		if from.Before(p.Start()) {
			from = p.Start()
		}
		if to.After(p.End()) {
			to = p.End()
		}
		if !from.Before(to) {
			continue
		}
		if n := len(segs); n > 0 && segs[n-1].Plan == pa.plan && segs[n-1].Version == pa.version && segs[n-1].To.Equal(from) {
			segs[n-1].To = to // a change to the same plan version is no cut
			continue
		}
		segs = append(segs, billing.PlanSegment{Plan: pa.plan, Version: pa.version, From: from, To: to})
	}
	return segs
}

// usagesOf converts a usage event (one record, or a reported batch) into the
// billing domain's values.
func usagesOf(ev events.Event) ([]billing.Usage, error) {
	recs, err := schema.UsageRecords(ev)
	if err != nil {
		return nil, err
	}
	out := make([]billing.Usage, len(recs))
	for i, r := range recs {
		q, err := decimal.NewFromString(r.Quantity)
		if err != nil {
			return nil, fmt.Errorf("usage %s quantity %q: %w", r.ID, r.Quantity, err)
		}
		out[i] = billing.Usage{ID: r.Meter + "/" + r.ID, Meter: r.Meter, Quantity: q, OccurredAt: r.Timestamp.UTC(), Properties: r.Properties}
	}
	return out, nil
}

// allVersions folds a usage stream to its end. (Version 0 is a real bound: an
// invoice issued before any usage folded none, and its audit must fold none.)
const allVersions = -1

// addUsage folds usage events up to version upTo (allVersions: all) into a
// ledger, skipping meters the catalogue does not have (logged) so the summary,
// the close and the audit agree. cat is the price book's latest catalogue:
// meters are never removed from the book, so it has every meter of every plan
// version.
func (b *Billing) addUsage(cat *billing.Catalog, l *billing.Ledger, evs []events.Event, upTo int64) (int64, error) {
	last := int64(0)
	for _, ev := range evs {
		if upTo >= 0 && ev.Version > upTo {
			break
		}
		last = ev.Version
		us, err := usagesOf(ev)
		if err != nil {
			return last, err
		}
		for _, u := range us {
			if _, ok := cat.Meter(u.Meter); !ok {
				b.log().Warn("usage of a meter the catalogue does not have is not billed", "meter", u.Meter, "event", ev.ID)
				continue
			}
			if !l.Period().Contains(u.OccurredAt) {
				continue
			}
			if _, err := l.Add(u); err != nil {
				return last, fmt.Errorf("fold usage %s: %w", ev.ID, err)
			}
		}
	}
	return last, nil
}

// openingLevels finds the last gauge readings (max/latest meters) before the period.
func (b *Billing) openingLevels(ctx context.Context, cat *billing.Catalog, tid events.TenantID, p billing.Period, created time.Time) (map[string]decimal.Decimal, error) {
	gauges := map[string]bool{}
	for _, m := range cat.AllMeters() {
		if m.Aggregation == billing.AggMax || m.Aggregation == billing.AggLatest {
			gauges[m.ID] = true
		}
	}
	out := map[string]decimal.Decimal{}
	type reading struct {
		at time.Time
		id string
	}
	latest := map[string]reading{}
	first := billing.PeriodOf(created)
	for q := p.Prev(); !q.Start().Before(first.Start()) && len(out) < len(gauges); q = q.Prev() {
		evs, err := b.Service.Store.Load(ctx, tid, events.StreamID(UsageStreamID(q.String())), 1)
		if errors.Is(err, events.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, storeError("load usage", err)
		}
		found := map[string]bool{}
		var us []billing.Usage
		for _, ev := range evs {
			batch, err := usagesOf(ev)
			if err != nil {
				return nil, err
			}
			us = append(us, batch...)
		}
		for _, u := range us {
			if !gauges[u.Meter] || !q.Contains(u.OccurredAt) {
				continue
			}
			if _, done := out[u.Meter]; done && !found[u.Meter] {
				continue // already found in a later period
			}
			r, seen := latest[u.Meter]
			if !seen || u.OccurredAt.After(r.at) || (u.OccurredAt.Equal(r.at) && u.ID > r.id) {
				latest[u.Meter] = reading{u.OccurredAt, u.ID}
				out[u.Meter] = u.Quantity
				found[u.Meter] = true
			}
		}
	}
	return out, nil
}

// foldPeriod folds a period from scratch, up to usage version upTo (allVersions: all).
func (b *Billing) foldPeriod(ctx context.Context, book *billing.Book, tid events.TenantID, p billing.Period, upTo int64, opening map[string]decimal.Decimal) (fold, error) {
	prof, timeline, err := b.profileHistory(ctx, tid)
	if err != nil {
		return fold{}, err
	}
	f := fold{profile: prof, profileVersion: prof.Version, segs: segmentsOf(p, timeline)}
	if len(f.segs) == 0 {
		return f, nil
	}
	cat := book.Latest()
	f.ledger, err = billing.NewLedger(cat, p, billing.SegmentCuts(f.segs)...)
	if err != nil {
		return fold{}, fmt.Errorf("fold %s: %w", p, err)
	}
	if opening == nil {
		if opening, err = b.openingLevels(ctx, cat, tid, p, prof.CreatedAt); err != nil {
			return fold{}, err
		}
	}
	f.opening = opening
	for m, v := range opening {
		if err := f.ledger.SetOpening(m, v); err != nil {
			return fold{}, fmt.Errorf("fold %s: %w", p, err)
		}
	}
	evs, err := b.Service.Store.Load(ctx, tid, events.StreamID(UsageStreamID(p.String())), 1)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return fold{}, storeError("load usage", err)
	}
	if f.usageVersion, err = b.addUsage(cat, f.ledger, evs, upTo); err != nil {
		return fold{}, err
	}
	return f, nil
}

// current returns an up-to-date draft invoice of a period, folding incrementally.
func (b *Billing) current(ctx context.Context, tid events.TenantID, p billing.Period) (billing.Invoice, fold, error) {
	var inv billing.Invoice
	var out fold
	err := b.currentFold(ctx, tid, p, func(f fold) error {
		out = f
		if f.ledger == nil {
			inv = billing.Invoice{Period: p, Currency: f.book.CurrencyCode()}
			return nil
		}
		var err error
		if inv, err = billing.Rate(f.book, f.segs, f.ledger); err != nil {
			return fmt.Errorf("rate %s: %w", p, err)
		}
		inv.TenantID = string(tid)
		return nil
	})
	if err != nil {
		return billing.Invoice{}, fold{}, err
	}
	return inv, out, nil
}

// currentFold brings the period's cached fold up to date with what was
// appended since the last look and hands it to use, under the cache's lock
// (the ledger is shared and later calls add to it). current rates it; the
// entitlement check reads its usage, so the check and the invoice are one fold
// (docs/billing.md, "Entitlements").
func (b *Billing) currentFold(ctx context.Context, tid events.TenantID, p billing.Period, use func(fold) error) error {
	b.mu.Lock()
	if b.cache == nil {
		b.cache = map[ledgerKey]*cachedLedger{}
	}
	c, ok := b.cache[ledgerKey{tid, p}]
	if !ok {
		c = &cachedLedger{}
		b.cache[ledgerKey{tid, p}] = c
	}
	b.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	book, err := b.priceBook(ctx)
	if err != nil {
		return err
	}
	prof, _, err := b.profileHistory(ctx, tid)
	if err != nil {
		return err
	}
	// A new publication may add meters, so the ledger is refolded with its catalogue.
	if c.ledger == nil || c.profileVersion != prof.Version || c.bookVersion != book.Version() {
		f, err := b.foldPeriod(ctx, book, tid, p, allVersions, nil)
		if err != nil {
			return err
		}
		c.ledger, c.segs, c.usageVersion, c.profileVersion, c.opening = f.ledger, f.segs, f.usageVersion, f.profileVersion, f.opening
		c.bookVersion = book.Version()
	} else {
		evs, err := b.Service.Store.Load(ctx, tid, events.StreamID(UsageStreamID(p.String())), c.usageVersion+1)
		if err != nil && !errors.Is(err, events.ErrNotFound) {
			return storeError("load usage", err)
		}
		if len(evs) > 0 {
			last, err := b.addUsage(book.Latest(), c.ledger, evs, allVersions)
			if err != nil {
				return err
			}
			c.usageVersion = last
		}
	}
	return use(fold{ledger: c.ledger, segs: slices.Clone(c.segs), usageVersion: c.usageVersion, profileVersion: c.profileVersion, opening: c.opening, profile: prof, book: book})
}

// priceBook is the price book the summary and the close rate with; an empty
// book first gets the configured catalogue (Service.PriceBook).
func (b *Billing) priceBook(ctx context.Context) (*billing.Book, error) {
	return b.Service.priceBook(ctx, b.Catalog)
}

// auditBook is the price book the audit rates with. The audit only reads: with
// nothing published yet (a data directory from before the book whose server has
// not run since), the configured catalogue stands in as version 1 of its
// plans, which is what such invoices were rated with.
func (b *Billing) auditBook(ctx context.Context) (*billing.Book, error) {
	book, err := b.Service.readBook(ctx)
	if err != nil || book.Version() > 0 {
		return book, err
	}
	cat := b.Catalog
	if c, ok := b.Service.Plans.(Catalog); ok && cat == nil {
		cat = c.Catalog
	}
	if cat == nil {
		return nil, errNoCatalog
	}
	pub, err := book.Publish(cat, time.Time{})
	if err != nil {
		return nil, err
	}
	return book.With(pub)
}

func (b *Billing) log() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.Default()
}

// InvoiceID is the stable id of a tenant's invoice for a period, so a retried or
// repeated close names the same invoice.
func InvoiceID(tid events.TenantID, p billing.Period) string {
	return "inv_" + uuid.NewSHA1(usageNamespace, []byte("invoice\x00"+string(tid)+"\x00"+p.String())).String()
}

// InvoiceStreamID is the stream holding a period's invoice.
func InvoiceStreamID(p billing.Period) string { return "invoice-" + p.String() }

// issuedInvoice loads the invoice of a period, if any.
func (b *Billing) issuedInvoice(ctx context.Context, tid events.TenantID, p billing.Period) (billing.Issued, bool, error) {
	evs, err := b.Service.Store.Load(ctx, tid, events.StreamID(InvoiceStreamID(p)), 1)
	if errors.Is(err, events.ErrNotFound) {
		return billing.Issued{}, false, nil
	}
	if err != nil {
		return billing.Issued{}, false, storeError("load invoice", err)
	}
	iss, err := events.DecodeAs[billing.Issued](schema.Registry, evs[0])
	if err != nil {
		return billing.Issued{}, false, storeError("decode invoice", err)
	}
	return iss, true, nil
}

// CloseResult says what closing one tenant's period did.
type CloseResult struct {
	TenantID string           `json:"tenant_id"`
	Period   string           `json:"period"`
	Issued   bool             `json:"issued"` // false: already closed, or nothing to bill
	Invoice  *billing.Invoice `json:"invoice,omitempty"`
	Reason   string           `json:"reason,omitempty"`
}

// Close issues the tenant's invoice for period p. It is idempotent: the invoice is
// appended to stream invoice-<period> with expected version "no stream", so a
// second close (or a concurrent one) changes nothing and returns the first invoice.
//
// Credits (docs/billing.md, "Credits"): before the invoice is issued, the close
// appends credit.applied, carrying the invoice as it will be issued with its
// credit lines, to the tenant's credits stream at the exact version its
// decision folded. A close of another period, a void or a grant that got there
// first makes it fold again and re-decide, so one credit is never spent twice;
// a close that finds its invoice's application there (an earlier attempt
// stopped between the two appends, or a concurrent close of the same period
// won the credits stream) issues exactly that invoice, so the issued invoice
// and the credits fold always agree.
func (b *Billing) Close(ctx context.Context, tid events.TenantID, p billing.Period) (CloseResult, error) {
	res := CloseResult{TenantID: string(tid), Period: p.String()}
	now := b.Service.Clock.Now()
	if now.Before(p.End().Add(b.grace())) {
		return res, domain.Errorf(domain.CodeUnprocessable, "period %s can be closed from %s (its end plus the grace window)", p, p.End().Add(b.grace()).Format(time.RFC3339))
	}
	for attempt := 0; ; attempt++ {
		if iss, ok, err := b.issuedInvoice(ctx, tid, p); err != nil || ok {
			if ok {
				res.Invoice, res.Reason = &iss.Invoice, "already closed"
			}
			return res, err
		}
		book, err := b.priceBook(ctx)
		if err != nil {
			return res, err
		}
		credits, err := b.loadCredits(ctx, tid, book.CurrencyCode(), allVersions)
		if err != nil {
			return res, err
		}
		var issued *billing.Issued
		if app, ok := credits.ledger.Applied(InvoiceID(tid, p)); ok {
			issued = &app.Issued // decided by an earlier or a concurrent close
		} else {
			draft, reason, err := b.draft(ctx, book, tid, p, now)
			if err != nil || reason != "" {
				res.Reason = reason
				return res, err
			}
			allocs, lines := billing.ApplyCredits(credits.ledger, p, draft.Invoice.TotalBeforeCredits())
			draft.Invoice.AddLines(lines...)
			draft.CreditsVersion = credits.version + 1
			app := &billing.CreditApplied{InvoiceID: draft.Invoice.InvoiceID, Period: p,
				TotalBeforeCredits: draft.Invoice.TotalBeforeCredits().StringFixed(book.MinorUnits()),
				Allocations:        allocs, Issued: *draft, At: now.UTC()}
			if app.Allocations == nil {
				app.Allocations = []billing.CreditAllocation{}
			}
			_, err = b.Service.Store.Append(ctx, events.AppendRequest{
				Tenant: tid, Stream: billing.CreditsStreamID, StreamType: billing.CreditsStreamType,
				Expected: events.Exactly(credits.version), Actor: "billing", Events: []events.NewEvent{newEvent(app)},
			})
			if errors.Is(err, events.ErrConcurrency) && attempt < creditRetries {
				continue // another write to the credits stream won: fold it and decide again
			}
			if err != nil {
				return res, storeError("apply credits", err)
			}
			issued = draft
		}
		inv := issued.Invoice
		_, err = b.Service.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(InvoiceStreamID(p)), StreamType: billing.InvoiceStreamType,
			Expected: events.NoStream, Actor: "billing", Events: []events.NewEvent{newEvent(issued)},
		})
		if errors.Is(err, events.ErrConcurrency) {
			iss, _, lerr := b.issuedInvoice(ctx, tid, p)
			res.Invoice, res.Reason = &iss.Invoice, "already closed"
			return res, lerr
		}
		if err != nil {
			return res, storeError("issue invoice", err)
		}
		res.Issued, res.Invoice = true, &inv
		if b.OnIssued != nil {
			b.OnIssued(inv)
		}
		b.log().InfoContext(ctx, "invoice issued", "tenant", tid, "period", p.String(), "number", inv.Number, "subtotal", inv.Subtotal.String())
		return res, nil
	}
}

// draft rates a period for its invoice, late usage adjustments included, before
// credits. A reason and no draft: nothing to bill.
func (b *Billing) draft(ctx context.Context, book *billing.Book, tid events.TenantID, p billing.Period, now time.Time) (*billing.Issued, string, error) {
	f, err := b.foldPeriod(ctx, book, tid, p, allVersions, nil)
	if err != nil {
		return nil, "", err
	}
	if len(f.segs) == 0 {
		return nil, "the tenant did not exist during the period", nil
	}
	inv, err := billing.Rate(book, f.segs, f.ledger)
	if err != nil {
		return nil, "", fmt.Errorf("close %s: %w", p, err)
	}
	number, err := b.nextNumber(ctx, tid, p, f.profile.CreatedAt)
	if err != nil {
		return nil, "", err
	}
	adj, late, err := b.lateUsage(ctx, book, tid, p, f.profile.CreatedAt)
	if err != nil {
		return nil, "", err
	}
	inv.AddLines(adj...)
	inv.InvoiceID, inv.Number, inv.TenantID, inv.IssuedAt = InvoiceID(tid, p), number, string(tid), now
	opening := map[string]string{}
	for m, v := range f.opening {
		opening[m] = v.String()
	}
	return &billing.Issued{Invoice: inv, UsageVersion: f.usageVersion, Opening: opening, ProfileVersion: f.profileVersion, Late: late}, "", nil
}

// nextNumber numbers invoices per tenant without gaps: one more than the latest
// earlier invoice. Periods are closed in order per tenant by the scheduler.
func (b *Billing) nextNumber(ctx context.Context, tid events.TenantID, p billing.Period, created time.Time) (int64, error) {
	first := billing.PeriodOf(created)
	for q := p.Prev(); !q.Start().Before(first.Start()); q = q.Prev() {
		iss, ok, err := b.issuedInvoice(ctx, tid, q)
		if err != nil {
			return 0, err
		}
		if ok {
			return iss.Invoice.Number + 1, nil
		}
	}
	return 1, nil
}

// lateWindow is how far back usage may be dated when it is recorded (the usage
// window of RecordUsage plus its allowance for clock skew).
func (b *Billing) lateWindow() time.Duration { return b.Service.usageWindow() + UsageFutureSkew }

// lateUsage finds the late usage of earlier invoiced periods that no invoice has
// billed yet and rates it as adjustment lines for the invoice of p. Late usage of
// a period q is what its usage stream holds after the versions already billed:
// q's own invoice's UsageVersion, then each later invoice's LateBilled for q.
//
// Only periods whose late usage can still be unbilled are read: usage of q that
// arrived before the previous close was billed by it, and usage arriving later is
// at most lateWindow old, so q must end after that close minus lateWindow.
func (b *Billing) lateUsage(ctx context.Context, book *billing.Book, tid events.TenantID, p billing.Period, created time.Time) ([]billing.Line, []billing.LateBilled, error) {
	first := billing.PeriodOf(created)
	issued := map[billing.Period]billing.Issued{}
	var closed []billing.Period // newest first
	var prevClose time.Time
	for q := p.Prev(); !q.Start().Before(first.Start()); q = q.Prev() {
		iss, ok, err := b.issuedInvoice(ctx, tid, q)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			issued[q] = iss
			closed = append(closed, q)
			if prevClose.IsZero() {
				prevClose = iss.Invoice.IssuedAt
			}
		}
		if !prevClose.IsZero() && !q.End().After(prevClose.Add(-b.lateWindow())) {
			break
		}
	}
	var lines []billing.Line
	var billed []billing.LateBilled
	for i := len(closed) - 1; i >= 0; i-- { // oldest first, so lines read in period order
		q := closed[i]
		if !q.End().After(prevClose.Add(-b.lateWindow())) {
			continue
		}
		from := billedUpTo(q, issued)
		adj, to, err := b.rateLate(ctx, book, tid, issued[q], from, allVersions)
		if err != nil {
			return nil, nil, err
		}
		if to > from {
			lines = append(lines, adj...)
			billed = append(billed, billing.LateBilled{Period: q, FromVersion: from, ToVersion: to})
		}
	}
	return lines, billed, nil
}

// billedUpTo is the last usage version of q billed by q's invoice or by the late
// usage records of the invoices in issued.
func billedUpTo(q billing.Period, issued map[billing.Period]billing.Issued) int64 {
	v := issued[q].UsageVersion
	for _, iss := range issued {
		for _, lb := range iss.Late {
			if lb.Period == q && lb.ToVersion > v {
				v = lb.ToVersion
			}
		}
	}
	return v
}

// rateLate rates the usage of an invoiced period after version from (up to version
// upTo, allVersions: all) against the ledger the period has been billed for so far: its
// issued segments and opening levels, folded up to from. It returns the
// adjustment lines and the last version read. Each segment is rated with the
// plan version the issued invoice names (none: version 1), from the price book.
func (b *Billing) rateLate(ctx context.Context, book *billing.Book, tid events.TenantID, iss billing.Issued, from, upTo int64) ([]billing.Line, int64, error) {
	q := iss.Invoice.Period
	segs := iss.Invoice.Segments
	cat := book.Latest()
	base, err := billing.NewLedger(cat, q, billing.SegmentCuts(segs)...)
	if err != nil {
		return nil, 0, fmt.Errorf("late usage of %s: %w", q, err)
	}
	for m, v := range iss.Opening {
		d, err := decimal.NewFromString(v)
		if err != nil {
			return nil, 0, fmt.Errorf("late usage of %s: opening %s: %w", q, m, err)
		}
		if err := base.SetOpening(m, d); err != nil {
			return nil, 0, fmt.Errorf("late usage of %s: %w", q, err)
		}
	}
	evs, err := b.Service.Store.Load(ctx, tid, events.StreamID(UsageStreamID(q.String())), 1)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return nil, 0, storeError("load usage", err)
	}
	last := from
	var late []billing.Usage
	for _, ev := range evs {
		if upTo >= 0 && ev.Version > upTo {
			break
		}
		us, err := usagesOf(ev)
		if err != nil {
			return nil, 0, err
		}
		if ev.Version > from {
			last = ev.Version
		}
		for _, u := range us {
			if _, ok := cat.Meter(u.Meter); !ok || !q.Contains(u.OccurredAt) {
				continue // as addUsage: not billed
			}
			if ev.Version > from {
				late = append(late, u)
				continue
			}
			if _, err := base.Add(u); err != nil {
				return nil, 0, fmt.Errorf("late usage of %s: fold %s: %w", q, ev.ID, err)
			}
		}
	}
	if len(late) == 0 {
		return nil, last, nil
	}
	rule, err := billing.ProrationOf(string(iss.Invoice.Proration))
	if err != nil {
		return nil, 0, fmt.Errorf("late usage of %s: %w", q, err)
	}
	adj, _, err := billing.RateLateUsage(rule, book, segs, base, late)
	if err != nil {
		return nil, 0, fmt.Errorf("late usage of %s: %w", q, err)
	}
	return adj, last, nil
}
