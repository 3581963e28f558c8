package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// AuditLine compares one invoice line as issued and as recomputed.
type AuditLine struct {
	Key                string `json:"key"`
	IssuedQuantity     string `json:"issued_quantity"`
	RecomputedQuantity string `json:"recomputed_quantity"`
	IssuedAmount       string `json:"issued_amount"`
	RecomputedAmount   string `json:"recomputed_amount"`
	Match              bool   `json:"match"`
}

// AuditReport is the result of re-deriving an issued invoice from the event store.
type AuditReport struct {
	Match              bool        `json:"match"`
	TenantID           string      `json:"tenant_id"`
	Period             string      `json:"period"`
	InvoiceID          string      `json:"invoice_id"`
	Number             int64       `json:"number"`
	Currency           string      `json:"currency"`
	UsageVersion       int64       `json:"usage_version"`
	IssuedSubtotal     string      `json:"issued_subtotal"`
	RecomputedSubtotal string      `json:"recomputed_subtotal"`
	Segments           int         `json:"segments"`
	Lines              []AuditLine `json:"lines"`
	// Late is the late usage of earlier periods the invoice billed as adjustments.
	Late []billing.LateBilled `json:"late,omitempty"`
	// Checks are the other comparisons: the late usage ranges and the ledgers read model.
	Checks []AuditCheck `json:"checks"`
}

// AuditCheck is one comparison besides the invoice lines: what the event store
// says and what was found.
type AuditCheck struct {
	Key   string `json:"key"`
	Store string `json:"store"`
	Found string `json:"found"`
	Match bool   `json:"match"`
}

// Audit re-reads the tenant's events from the store and re-derives the invoice:
// the period's ledger folded again up to the usage version the invoice was
// computed from, split into the plan segments of the profile history, and rated;
// the adjustment lines re-rated from each late usage range it names (which must
// start where the earlier invoices left off). The result is compared with the
// issued invoice line by line and to the cent. With AuditReadModel it also
// compares the ledgers read model with the fold of the store for the periods involved.
func (b *Billing) Audit(ctx context.Context, tid events.TenantID, p billing.Period) (AuditReport, error) {
	if err := tid.Validate(); err != nil {
		return AuditReport{}, domain.FieldError("tenant", "invalid tenant id")
	}
	iss, ok, err := b.issuedInvoice(ctx, tid, p)
	if err != nil {
		return AuditReport{}, err
	}
	if !ok {
		return AuditReport{}, domain.Errorf(domain.CodeNotFound, "tenant %s has no invoice for %s", tid, p)
	}
	opening := map[string]decimal.Decimal{}
	for m, v := range iss.Opening {
		d, err := decimal.NewFromString(v)
		if err != nil {
			return AuditReport{}, fmt.Errorf("audit: opening %s: %w", m, err)
		}
		opening[m] = d
	}
	rep := AuditReport{
		TenantID: string(tid), Period: p.String(), InvoiceID: iss.Invoice.InvoiceID, Number: iss.Invoice.Number,
		Currency: iss.Invoice.Currency, UsageVersion: iss.UsageVersion, IssuedSubtotal: formatMoney(iss.Invoice.Subtotal, iss.Invoice.Currency),
		Late: iss.Late, Checks: []AuditCheck{},
	}
	// Prices come from the price book alone: each segment with the plan
	// version it was issued under (docs/ARCHITECTURE.md, decision 14).
	book, err := b.auditBook(ctx)
	if err != nil {
		return AuditReport{}, err
	}
	var recomputed billing.Invoice
	f, err := b.foldPeriod(ctx, book, tid, p, iss.UsageVersion, opening)
	if err != nil {
		return AuditReport{}, err
	}
	// The invoice is recomputed under the proration rule it was issued under.
	rule, err := billing.ProrationOf(string(iss.Invoice.Proration))
	if err != nil {
		return AuditReport{}, fmt.Errorf("audit: %w", err)
	}
	if len(f.segs) > 0 {
		if recomputed, err = billing.RateUnder(rule, book, f.segs, f.ledger); err != nil {
			return AuditReport{}, fmt.Errorf("audit: rate: %w", err)
		}
	}
	rep.Segments = len(f.segs)
	segsMatch := len(f.segs) == len(iss.Invoice.Segments)
	for i := 0; segsMatch && i < len(f.segs); i++ {
		a, r := iss.Invoice.Segments[i], f.segs[i]
		segsMatch = a.Ref() == r.Ref() && a.From.Equal(r.From) && a.To.Equal(r.To)
	}
	rep.Checks = append(rep.Checks, AuditCheck{Key: "plan segments", Store: segmentsString(f.segs), Found: segmentsString(iss.Invoice.Segments), Match: segsMatch})

	ledgerPeriods := []billing.Period{p}
	for _, lb := range iss.Late {
		q := lb.Period
		ledgerPeriods = append(ledgerPeriods, q)
		prior, ok, err := b.issuedInvoice(ctx, tid, q)
		if err != nil {
			return AuditReport{}, err
		}
		key := "late usage of " + q.String() + " versions"
		if !ok {
			rep.Checks = append(rep.Checks, AuditCheck{Key: key, Store: "no invoice for " + q.String(), Found: lateRange(lb), Match: false})
			continue
		}
		from, err := b.billedBefore(ctx, tid, q, p)
		if err != nil {
			return AuditReport{}, err
		}
		adj, to, err := b.rateLate(ctx, book, tid, prior, lb.FromVersion, lb.ToVersion)
		if err != nil {
			return AuditReport{}, fmt.Errorf("audit: %w", err)
		}
		want := billing.LateBilled{Period: q, FromVersion: from, ToVersion: to}
		rep.Checks = append(rep.Checks, AuditCheck{Key: key, Store: lateRange(want), Found: lateRange(lb), Match: want == lb})
		recomputed.AddLines(adj...)
	}
	if recomputed.Currency == "" {
		recomputed.Currency = book.CurrencyCode()
	}
	creditChecks, creditLines, err := b.auditCredits(ctx, tid, p, iss, recomputed.TotalBeforeCredits(), book.CurrencyCode())
	if err != nil {
		return AuditReport{}, err
	}
	recomputed.AddLines(creditLines...)
	rep.Checks = append(rep.Checks, creditChecks...)

	rep.RecomputedSubtotal = formatMoney(recomputed.Subtotal, recomputed.Currency)
	rep.Match = iss.Invoice.Subtotal.Equal(recomputed.Subtotal) && iss.Invoice.Currency == recomputed.Currency &&
		len(iss.Invoice.Lines) == len(recomputed.Lines)
	n := max(len(iss.Invoice.Lines), len(recomputed.Lines))
	for i := 0; i < n; i++ {
		var a, r *billing.Line
		if i < len(iss.Invoice.Lines) {
			a = &iss.Invoice.Lines[i]
		}
		if i < len(recomputed.Lines) {
			r = &recomputed.Lines[i]
		}
		al := AuditLine{Key: lineKey(a, r), IssuedQuantity: "-", RecomputedQuantity: "-", IssuedAmount: "-", RecomputedAmount: "-"}
		if a != nil {
			al.IssuedQuantity, al.IssuedAmount = a.Quantity.String(), formatMoney(a.Amount, iss.Invoice.Currency)
		}
		if r != nil {
			al.RecomputedQuantity, al.RecomputedAmount = r.Quantity.String(), formatMoney(r.Amount, recomputed.Currency)
		}
		al.Match = a != nil && r != nil && a.Kind == r.Kind && a.Meter == r.Meter && a.Segment == r.Segment &&
			a.Plan == r.Plan && a.Grant == r.Grant && samePeriod(a.OriginalPeriod, r.OriginalPeriod) &&
			a.Quantity.Equal(r.Quantity) && a.Amount.Equal(r.Amount)
		rep.Match = rep.Match && al.Match
		rep.Lines = append(rep.Lines, al)
	}

	for _, q := range ledgerPeriods {
		if !b.AuditReadModel {
			break
		}
		checks, err := b.auditLedgerReadModel(ctx, book.Latest(), tid, q, iss, q == p)
		if err != nil {
			return AuditReport{}, err
		}
		rep.Checks = append(rep.Checks, checks...)
	}
	for _, c := range rep.Checks {
		rep.Match = rep.Match && c.Match
	}
	return rep, nil
}

// billedBefore is the last usage version of q that invoices of periods before p
// billed: q's own invoice, then the late usage the invoices between named.
func (b *Billing) billedBefore(ctx context.Context, tid events.TenantID, q, p billing.Period) (int64, error) {
	issued := map[billing.Period]billing.Issued{}
	for r := q; r.Start().Before(p.Start()); r = r.Next() {
		iss, ok, err := b.issuedInvoice(ctx, tid, r)
		if err != nil {
			return 0, err
		}
		if ok {
			issued[r] = iss
		}
	}
	return billedUpTo(q, issued), nil
}

// auditLedgerReadModel compares the ledgers read model of period q with the fold
// of q's usage stream from the store, up to the version the read model says it
// applied (it may trail a running server by the projection lag). The read model
// must have applied at least what the invoice billed of q.
func (b *Billing) auditLedgerReadModel(ctx context.Context, cat *billing.Catalog, tid events.TenantID, q billing.Period, iss billing.Issued, own bool) ([]AuditCheck, error) {
	prefix := "ledger read model " + q.String() + " "
	var head projections.LedgerHead
	if err := b.readModelJSON(ctx, tid, projections.LedgerHeadsCollection, q.String(), &head); err != nil {
		return nil, err
	}
	billed := iss.UsageVersion
	if !own {
		for _, lb := range iss.Late {
			if lb.Period == q {
				billed = lb.ToVersion
			}
		}
	}
	checks := []AuditCheck{{
		Key:   prefix + "usage version",
		Store: fmt.Sprintf(">= %d (billed)", billed), Found: strconv.FormatInt(head.UsageVersion, 10),
		Match: head.UsageVersion >= billed,
	}}
	l, err := billing.NewLedger(cat, q)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if head.UsageVersion > 0 {
		evs, err := b.Service.Store.Load(ctx, tid, events.StreamID(UsageStreamID(q.String())), 1)
		if err != nil && !errors.Is(err, events.ErrNotFound) {
			return nil, storeError("load usage", err)
		}
		if _, err := b.addUsage(cat, l, evs, head.UsageVersion); err != nil {
			return nil, err
		}
	}
	for _, m := range cat.AllMeters() {
		want := l.Total(m.ID)
		got, err := b.readModelQuantity(ctx, tid, q, m)
		if err != nil {
			return nil, err
		}
		checks = append(checks, AuditCheck{Key: prefix + m.ID, Store: want.String(), Found: got.String(), Match: want.Equal(got)})
	}
	return checks, nil
}

// readModelQuantity is a meter's period quantity in the ledgers read model,
// aggregated as the catalogue says.
func (b *Billing) readModelQuantity(ctx context.Context, tid events.TenantID, q billing.Period, m billing.Meter) (decimal.Decimal, error) {
	if m.Aggregation == billing.AggUniqueCount {
		prefix := projections.LedgerValuesPrefix(q, m.ID, m.Property)
		n, after := int64(0), prefix
		for {
			entries, err := b.Service.Reader.List(ctx, projections.LedgersProjection, tid, projections.LedgerValuesCollection, after, 500)
			if err != nil {
				return decimal.Zero, storeError("list ledger values", err)
			}
			for _, e := range entries {
				if !strings.HasPrefix(e.Key, prefix) {
					return decimal.NewFromInt(n), nil
				}
				n++
			}
			if len(entries) < 500 {
				return decimal.NewFromInt(n), nil
			}
			after = entries[len(entries)-1].Key
		}
	}
	var row projections.LedgerMeter
	if err := b.readModelJSON(ctx, tid, projections.LedgerMetersCollection, projections.LedgerMeterKey(q, m.ID), &row); err != nil {
		return decimal.Zero, err
	}
	return row.Quantity(m.Aggregation), nil
}

// readModelJSON decodes a ledgers read-model value; a missing one leaves v zero.
func (b *Billing) readModelJSON(ctx context.Context, tid events.TenantID, coll, key string, v any) error {
	raw, err := b.Service.Reader.Get(ctx, projections.LedgersProjection, tid, coll, key)
	if errors.Is(err, projections.ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeError("read ledger "+key, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("audit: decode ledger read model %s: %w", key, err)
	}
	return nil
}

func segmentsString(segs []billing.PlanSegment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = s.Ref().String() + " " + s.From.UTC().Format(time.RFC3339) + ".." + s.To.UTC().Format(time.RFC3339)
	}
	return strings.Join(parts, ", ")
}

func lateRange(lb billing.LateBilled) string {
	return fmt.Sprintf("%d..%d", lb.FromVersion+1, lb.ToVersion)
}

func samePeriod(a, b *billing.Period) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func lineKey(a, r *billing.Line) string {
	l := a
	if l == nil {
		l = r
	}
	k := "segment " + strconv.Itoa(l.Segment) + " " + string(l.Kind)
	if l.OriginalPeriod != nil {
		k += " of " + l.OriginalPeriod.String()
	}
	if l.Meter != "" {
		k += " " + l.Meter
	}
	if l.Grant != "" {
		k += " " + l.Grant
	}
	return k
}

// formatMoney writes an amount as invoices do: with the currency's minor
// digits ("0.00", "17.16"), so an audit reads like the invoice it checks.
func formatMoney(d decimal.Decimal, currency string) string {
	minor, err := billing.MinorUnits(currency)
	if err != nil || !d.Equal(d.Round(minor)) {
		return d.String() // not an invoiced amount (a corrupt line, say): show it exactly
	}
	return d.StringFixed(minor)
}

// auditCredits recomputes an invoice's credit lines from the credits stream: the
// fold of the events before the credit.applied the invoice names, applied to
// the recomputed total before credits. It also checks that the credit.applied
// is this invoice's (the same invoice, the same allocations as its credit
// lines) and that no other application names the invoice. An invoice issued
// before credits (no credits version) must have no credit lines and no
// application.
func (b *Billing) auditCredits(ctx context.Context, tid events.TenantID, p billing.Period, iss billing.Issued, total decimal.Decimal, currency string) ([]AuditCheck, []billing.Line, error) {
	id := iss.Invoice.InvoiceID
	all, err := b.loadCredits(ctx, tid, currency, allVersions)
	if err != nil {
		return nil, nil, err
	}
	key := "credit application"
	if iss.CreditsVersion == 0 {
		_, applied := all.ledger.Applied(id)
		return []AuditCheck{{Key: key, Store: map[bool]string{true: "an application", false: "none"}[applied], Found: "none", Match: !applied}}, nil, nil
	}
	found := fmt.Sprintf("credit.applied at version %d", iss.CreditsVersion)
	evs, err := b.Service.Store.Load(ctx, tid, billing.CreditsStreamID, iss.CreditsVersion)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return nil, nil, storeError("load credits", err)
	}
	var app *billing.CreditApplied
	if len(evs) > 0 && evs[0].Version == iss.CreditsVersion && evs[0].Type == billing.TypeCreditApplied {
		a, err := events.DecodeAs[billing.CreditApplied](schema.Registry, evs[0])
		if err != nil {
			return nil, nil, storeError("decode credits", err)
		}
		if a.InvoiceID == id {
			app = &a
		}
	}
	if app == nil {
		return []AuditCheck{{Key: key, Store: "no application of " + id + " there", Found: found, Match: false}}, nil, nil
	}
	checks := []AuditCheck{{Key: key, Store: found, Found: found, Match: true}}
	stored, err1 := json.Marshal(app.Issued)
	issued, err2 := json.Marshal(iss)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	checks = append(checks, AuditCheck{Key: "credit application carries the issued invoice", Store: strconv.Itoa(len(stored)) + " bytes",
		Found: strconv.Itoa(len(issued)) + " bytes", Match: string(stored) == string(issued)})
	var lineAllocs []billing.CreditAllocation
	minor, err := billing.MinorUnits(currency)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	for _, ln := range iss.Invoice.Lines {
		if ln.Kind == billing.LineCredit {
			lineAllocs = append(lineAllocs, billing.CreditAllocation{GrantID: ln.Grant, Amount: ln.Amount.Neg().StringFixed(minor)})
		}
	}
	checks = append(checks, AuditCheck{Key: "credit allocations", Store: allocString(app.Allocations), Found: allocString(lineAllocs),
		Match: allocString(app.Allocations) == allocString(lineAllocs)})
	before, err := b.loadCredits(ctx, tid, currency, iss.CreditsVersion-1)
	if err != nil {
		return nil, nil, err
	}
	_, lines := billing.ApplyCredits(before.ledger, p, total)
	return checks, lines, nil
}

func allocString(as []billing.CreditAllocation) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.GrantID + " " + a.Amount
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
