package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Prepaid credits (docs/billing.md, "Credits"): grants and voids by operators,
// applications by the close, all on the tenant's stream "credits".

// creditsFold is the fold of a tenant's credits stream with its version.
type creditsFold struct {
	ledger  *billing.CreditLedger
	version int64
}

// loadCredits folds the tenant's credits stream up to version upTo (allVersions: all).
func (b *Billing) loadCredits(ctx context.Context, tid events.TenantID, currency string, upTo int64) (creditsFold, error) {
	l, err := billing.NewCreditLedger(currency)
	if err != nil {
		return creditsFold{}, err
	}
	f := creditsFold{ledger: l}
	evs, err := b.Service.Store.Load(ctx, tid, billing.CreditsStreamID, 1)
	if errors.Is(err, events.ErrNotFound) {
		return f, nil
	}
	if err != nil {
		return creditsFold{}, storeError("load credits", err)
	}
	for _, ev := range evs {
		if upTo >= 0 && ev.Version > upTo {
			break
		}
		p, err := schema.Registry.Decode(ev)
		if err != nil {
			return creditsFold{}, storeError("decode credits", err)
		}
		switch e := p.(type) {
		case *billing.CreditGranted:
			err = l.Grant(*e)
		case *billing.CreditVoided:
			err = l.Void(*e)
		case *billing.CreditApplied:
			err = l.Apply(*e)
		default:
			err = fmt.Errorf("unexpected event %s", ev.Type)
		}
		if err != nil {
			// Every credits event was checked against this fold before it was appended.
			return creditsFold{}, fmt.Errorf("fold credits of %s at version %d: %w", tid, ev.Version, err)
		}
		f.version = ev.Version
	}
	return f, nil
}

// CreditGrantRequest is what an operator grants.
type CreditGrantRequest struct {
	Amount string
	// Currency, when set, must be the catalogue's; empty means the catalogue's.
	Currency string
	// Priority orders grants: lower applies first.
	Priority int
	// EffectiveAt is when the credit starts to count (zero: now).
	EffectiveAt time.Time
	// ExpiresAt, when set, is when the unused credit expires.
	ExpiresAt *time.Time
	Kind      string
	Reason    string
}

// GrantCredit appends a credit.granted to the tenant's credits stream. Only a
// platform operator may grant: no route offers it, and a tenant's token is
// refused here too (a tenant must never grant itself credit). Errors: forbidden,
// not found (no such tenant), field errors.
func (b *Billing) GrantCredit(ctx context.Context, m Meta, tenantID string, req CreditGrantRequest) (billing.CreditGranted, error) {
	if !m.Principal.Has(identity.RolePlatformAdmin) {
		return billing.CreditGranted{}, domain.Errorf(domain.CodeForbidden, "granting credit needs the %s role", identity.RolePlatformAdmin)
	}
	tid, err := b.Service.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return billing.CreditGranted{}, err
	}
	if _, _, err := b.profileHistory(ctx, tid); err != nil {
		return billing.CreditGranted{}, err
	}
	book, err := b.priceBook(ctx)
	if err != nil {
		return billing.CreditGranted{}, err
	}
	currency := book.CurrencyCode()
	if req.Currency != "" && req.Currency != currency {
		return billing.CreditGranted{}, domain.FieldError("currency", "credit must be in the catalogue's currency, %s, not %q", currency, req.Currency)
	}
	amount, err := billing.ParseCreditAmount(req.Amount, currency)
	if err != nil {
		return billing.CreditGranted{}, domain.FieldError("amount", "%s", strings.TrimPrefix(err.Error(), billing.ErrInvalidCredit.Error()+": "))
	}
	now := b.Service.Clock.Now().UTC()
	effective := req.EffectiveAt.UTC()
	if req.EffectiveAt.IsZero() {
		effective = now
	}
	g := billing.CreditGranted{
		GrantID: "cr_" + uuid.Must(uuid.NewV7()).String(), Amount: amount.StringFixed(book.MinorUnits()), Currency: currency,
		Priority: req.Priority, EffectiveAt: effective, Kind: billing.CreditKind(req.Kind), Reason: strings.TrimSpace(req.Reason),
		Actor: m.Principal.UserID, At: now,
	}
	if req.ExpiresAt != nil {
		exp := req.ExpiresAt.UTC()
		if !exp.After(now) {
			return billing.CreditGranted{}, domain.FieldError("expires_at", "must be in the future")
		}
		g.ExpiresAt = &exp
	}
	switch {
	case g.Kind != billing.CreditPurchased && g.Kind != billing.CreditPromotional:
		return billing.CreditGranted{}, domain.FieldError("kind", "must be %s or %s", billing.CreditPurchased, billing.CreditPromotional)
	case g.Priority < 0 || g.Priority > 1000:
		return billing.CreditGranted{}, domain.FieldError("priority", "must be from 0 to 1000 (lower applies first)")
	case g.Reason == "" || len(g.Reason) > billing.MaxCreditReason:
		return billing.CreditGranted{}, domain.FieldError("reason", "must be 1-%d characters", billing.MaxCreditReason)
	case g.ExpiresAt != nil && !g.ExpiresAt.After(g.EffectiveAt):
		return billing.CreditGranted{}, domain.FieldError("expires_at", "must be after effective_at")
	}
	if err := g.Validate(currency); err != nil {
		return billing.CreditGranted{}, domain.Errorf(domain.CodeInvalid, "%v", err)
	}
	// Expected "any": a grant never makes an application wrong, so it need not
	// fence; a close racing it conflicts on its exact version and re-decides.
	if _, err := b.Service.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: billing.CreditsStreamID, StreamType: billing.CreditsStreamType,
		Expected: events.AnyVersion, Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(&g)},
	}); err != nil {
		return billing.CreditGranted{}, storeError("grant credit", err)
	}
	b.log().InfoContext(ctx, "credit granted", "tenant", tid, "grant", g.GrantID, "amount", g.Amount, "by", g.Actor)
	return g, nil
}

// VoidCredit withdraws what is left of a grant, at the exact version of the
// fold it read, so a void and a close cannot both take the same balance.
// Platform operators only. Errors: forbidden, not found, unprocessable (already
// voided or nothing left).
func (b *Billing) VoidCredit(ctx context.Context, m Meta, tenantID, grantID, reason string) (billing.CreditVoided, error) {
	if !m.Principal.Has(identity.RolePlatformAdmin) {
		return billing.CreditVoided{}, domain.Errorf(domain.CodeForbidden, "voiding credit needs the %s role", identity.RolePlatformAdmin)
	}
	tid, err := b.Service.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return billing.CreditVoided{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > billing.MaxCreditReason {
		return billing.CreditVoided{}, domain.FieldError("reason", "must be 1-%d characters", billing.MaxCreditReason)
	}
	book, err := b.priceBook(ctx)
	if err != nil {
		return billing.CreditVoided{}, err
	}
	for attempt := 0; ; attempt++ {
		f, err := b.loadCredits(ctx, tid, book.CurrencyCode(), allVersions)
		if err != nil {
			return billing.CreditVoided{}, err
		}
		g, left, ok := f.ledger.GrantOf(grantID)
		if !ok {
			return billing.CreditVoided{}, domain.Errorf(domain.CodeNotFound, "no credit grant %q", grantID)
		}
		if !left.IsPositive() {
			return billing.CreditVoided{}, domain.Errorf(domain.CodeUnprocessable, "credit grant %s has nothing left to void", g.GrantID)
		}
		v := billing.CreditVoided{GrantID: g.GrantID, Amount: left.StringFixed(f.ledger.Minor()), Reason: reason, Actor: m.Principal.UserID, At: b.Service.Clock.Now().UTC()}
		_, err = b.Service.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: billing.CreditsStreamID, StreamType: billing.CreditsStreamType,
			Expected: events.Exactly(f.version), Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(&v)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < creditRetries {
			continue
		}
		if err != nil {
			return billing.CreditVoided{}, storeError("void credit", err)
		}
		b.log().InfoContext(ctx, "credit voided", "tenant", tid, "grant", g.GrantID, "amount", v.Amount, "by", v.Actor)
		return v, nil
	}
}

// creditRetries bounds how often a write to the credits stream re-reads and
// re-decides after losing a race to another write there.
const creditRetries = 20

// CreditsView is GET /billing/{tenant_id}/credits.
type CreditsView struct {
	TenantID string             `json:"tenant_id"`
	Balances []CreditBalanceDoc `json:"balances"`
	Grants   []CreditGrantDoc   `json:"grants"`
	Ledger   []CreditEntryDoc   `json:"ledger"`
}

// CreditBalanceDoc is the balance in one currency.
type CreditBalanceDoc struct {
	Currency  string `json:"currency"`
	Available string `json:"available"`
	Scheduled string `json:"scheduled"`
}

// CreditGrantDoc is one grant with what is left of it.
type CreditGrantDoc struct {
	GrantID     string     `json:"grant_id"`
	Kind        string     `json:"kind"`
	Amount      string     `json:"amount"`
	Remaining   string     `json:"remaining"`
	Currency    string     `json:"currency"`
	Priority    int        `json:"priority"`
	EffectiveAt time.Time  `json:"effective_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Reason      string     `json:"reason"`
	GrantedAt   time.Time  `json:"granted_at"`
	Status      string     `json:"status"`
}

// CreditEntryDoc is one ledger entry.
type CreditEntryDoc struct {
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	GrantID   string    `json:"grant_id"`
	Amount    string    `json:"amount"`
	InvoiceID string    `json:"invoice_id,omitempty"`
	Period    string    `json:"period,omitempty"`
}

// Credits implements GET /billing/{tenant_id}/credits: the balance, the grants
// and the ledger, folded from the credits stream (never a projection, as the
// invoices it matches are).
func (b *Billing) Credits(ctx context.Context, m Meta, tenantID string) (CreditsView, error) {
	tid, err := b.Service.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return CreditsView{}, err
	}
	book, err := b.auditBook(ctx) // reads only: the CLI's show runs next to a live server
	if err != nil {
		return CreditsView{}, err
	}
	f, err := b.loadCredits(ctx, tid, book.CurrencyCode(), allVersions)
	if err != nil {
		return CreditsView{}, err
	}
	rep := f.ledger.Report(b.Service.Clock.Now())
	minor := f.ledger.Minor()
	money := func(d decimal.Decimal) string { return d.StringFixed(minor) }
	v := CreditsView{TenantID: string(tid), Grants: []CreditGrantDoc{}, Ledger: []CreditEntryDoc{},
		Balances: []CreditBalanceDoc{{Currency: rep.Balance.Currency, Available: money(rep.Balance.Available), Scheduled: money(rep.Balance.Scheduled)}}}
	for _, g := range rep.Grants {
		v.Grants = append(v.Grants, CreditGrantDoc{GrantID: g.GrantID, Kind: string(g.Kind), Amount: g.Amount, Remaining: money(g.Remaining),
			Currency: g.Currency, Priority: g.Priority, EffectiveAt: g.EffectiveAt, ExpiresAt: g.ExpiresAt, Reason: g.Reason, GrantedAt: g.At, Status: string(g.Status)})
	}
	for _, e := range rep.Ledger {
		doc := CreditEntryDoc{At: e.At, Type: string(e.Type), GrantID: e.GrantID, Amount: money(e.Amount), InvoiceID: e.InvoiceID}
		if e.Period != nil {
			doc.Period = e.Period.String()
		}
		v.Ledger = append(v.Ledger, doc)
	}
	return v, nil
}
