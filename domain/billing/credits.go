package billing

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Prepaid credits (docs/billing.md, "Credits"). A tenant's grants, voids and
// the credit each invoice applied are events on its stream "credits"; the
// balance is their fold, and ApplyCredits decides, purely, what an invoice
// takes from it.

// Stable type names of the credits events. Never rename.
const (
	TypeCreditGranted = "credit.granted"
	TypeCreditVoided  = "credit.voided"
	TypeCreditApplied = "credit.applied"
)

// CreditsStreamID is the per-tenant stream of credits events; CreditsStreamType its type.
const (
	CreditsStreamID   = "credits"
	CreditsStreamType = "credits"
)

// LineCredit is an invoice line paid from one credit grant (a negative amount).
const LineCredit LineKind = "credit"

// CreditKind says where a grant came from.
type CreditKind string

// The credit kinds.
const (
	CreditPurchased   CreditKind = "purchased"
	CreditPromotional CreditKind = "promotional"
)

// ErrInvalidCredit wraps every refused grant, void or application.
var ErrInvalidCredit = errors.New("billing: invalid credit")

// MaxCreditReason is the longest reason a grant or void may carry (it is printed on invoices).
const MaxCreditReason = 200

var creditAmountRE = regexp.MustCompile(`^[0-9]{1,16}(\.[0-9]{1,16})?$`)

// maxCreditAmount bounds one grant, far above any real one, so sums stay readable.
var maxCreditAmount = decimal.New(1, 12)

// CreditGranted is the credit.granted event: Amount of Currency, usable by the
// invoices of periods that end after EffectiveAt and no later than ExpiresAt
// (none: never expires). Lower Priority applies first.
type CreditGranted struct {
	GrantID     string     `json:"grant_id"`
	Amount      string     `json:"amount"` // with exactly the currency's minor digits
	Currency    string     `json:"currency"`
	Priority    int        `json:"priority"`
	EffectiveAt time.Time  `json:"effective_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Kind        CreditKind `json:"kind"`
	Reason      string     `json:"reason"`
	Actor       string     `json:"actor"`
	At          time.Time  `json:"at"`
}

// CreditVoided is the credit.voided event: the grant's whole remaining balance
// (Amount, as the fold had it when the void was decided) is withdrawn.
type CreditVoided struct {
	GrantID string    `json:"grant_id"`
	Amount  string    `json:"amount"`
	Reason  string    `json:"reason"`
	Actor   string    `json:"actor"`
	At      time.Time `json:"at"`
}

// CreditAllocation is what one invoice took from one grant.
type CreditAllocation struct {
	GrantID string `json:"grant_id"`
	Amount  string `json:"amount"`
}

// CreditApplied is the credit.applied event: the credit an invoice takes,
// appended to the credits stream at the exact version its decision read, before
// the invoice is issued, so two closes can never spend one credit twice. It
// carries the invoice as it will be issued (Issued); a close that finds it
// issues exactly that. An invoice has at most one.
type CreditApplied struct {
	InvoiceID string `json:"invoice_id"`
	Period    Period `json:"period"`
	// TotalBeforeCredits is the invoice's subtotal before its credit lines.
	TotalBeforeCredits string             `json:"total_before_credits"`
	Allocations        []CreditAllocation `json:"allocations"`
	Issued             Issued             `json:"issued"`
	At                 time.Time          `json:"at"`
}

// AppliedTotal is the sum of the allocations.
func (a CreditApplied) AppliedTotal() decimal.Decimal {
	sum := decimal.Zero
	for _, al := range a.Allocations {
		d, err := decimal.NewFromString(al.Amount)
		if err == nil {
			sum = sum.Add(d)
		}
	}
	return sum
}

// UsableFor reports whether the grant may pay the invoice of period p: it is
// effective before p ends and does not expire before p ends. The invoice's date
// is its period's end, not the moment the close runs, so whether a grant
// applies never depends on when the job ran.
func (g CreditGranted) UsableFor(p Period) bool {
	end := p.End()
	return g.EffectiveAt.Before(end) && (g.ExpiresAt == nil || !g.ExpiresAt.Before(end))
}

// ParseCreditAmount parses a positive amount with at most the currency's minor
// digits (JPY 0, USD 2, BHD 3).
func ParseCreditAmount(s, currency string) (decimal.Decimal, error) {
	minor, err := MinorUnits(currency)
	if err != nil {
		return decimal.Zero, fmt.Errorf("%w: %w", ErrInvalidCredit, err)
	}
	s = strings.TrimSpace(s)
	// Plain digits only: an exponent ("1e-99999999") would make decimal
	// compare and round through a 10^99999999 big integer.
	if !creditAmountRE.MatchString(s) {
		return decimal.Zero, fmt.Errorf("%w: amount %q is not a decimal such as 10.00", ErrInvalidCredit, s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, fmt.Errorf("%w: amount %q is not a decimal", ErrInvalidCredit, s)
	}
	if !d.IsPositive() || d.GreaterThan(maxCreditAmount) {
		return decimal.Zero, fmt.Errorf("%w: amount must be more than 0 and at most %s", ErrInvalidCredit, maxCreditAmount)
	}
	if !d.Equal(d.Round(minor)) {
		return decimal.Zero, fmt.Errorf("%w: amount %s has more than %d decimal places (%s's minor unit)", ErrInvalidCredit, s, minor, currency)
	}
	return d, nil
}

// Validate checks a grant against the catalogue's currency.
func (g CreditGranted) Validate(currency string) error {
	switch {
	case g.GrantID == "" || len(g.GrantID) > 64:
		return fmt.Errorf("%w: grant id must be 1-64 characters", ErrInvalidCredit)
	case g.Currency != currency:
		return fmt.Errorf("%w: currency %q is not the catalogue's (%s)", ErrInvalidCredit, g.Currency, currency)
	case g.Kind != CreditPurchased && g.Kind != CreditPromotional:
		return fmt.Errorf("%w: kind must be %s or %s", ErrInvalidCredit, CreditPurchased, CreditPromotional)
	case g.Priority < 0 || g.Priority > 1000:
		return fmt.Errorf("%w: priority must be from 0 to 1000", ErrInvalidCredit)
	case strings.TrimSpace(g.Reason) == "" || len(g.Reason) > MaxCreditReason:
		return fmt.Errorf("%w: reason must be 1-%d characters", ErrInvalidCredit, MaxCreditReason)
	case g.EffectiveAt.IsZero():
		return fmt.Errorf("%w: effective_at is required", ErrInvalidCredit)
	case g.ExpiresAt != nil && !g.ExpiresAt.After(g.EffectiveAt):
		return fmt.Errorf("%w: expires_at must be after effective_at", ErrInvalidCredit)
	}
	d, err := ParseCreditAmount(g.Amount, currency)
	if err != nil {
		return err
	}
	if minor, _ := MinorUnits(currency); g.Amount != d.StringFixed(minor) {
		return fmt.Errorf("%w: amount %q must be written with exactly %d decimal places", ErrInvalidCredit, g.Amount, minor)
	}
	return nil
}

// creditGrant is a grant with what is left of it.
type creditGrant struct {
	CreditGranted
	amount    decimal.Decimal
	remaining decimal.Decimal
	voided    *CreditVoided
	seq       int
}

// CreditEntryType names a credits ledger entry.
type CreditEntryType string

// The ledger entry types.
const (
	EntryGranted CreditEntryType = "granted"
	EntryApplied CreditEntryType = "applied"
	EntryExpired CreditEntryType = "expired"
	EntryVoided  CreditEntryType = "voided"
)

// CreditEntry is one line of a tenant's credits ledger: a grant (positive), an
// application to an invoice, a void or an expiry (negative).
type CreditEntry struct {
	At        time.Time       `json:"at"`
	Type      CreditEntryType `json:"type"`
	GrantID   string          `json:"grant_id"`
	Amount    decimal.Decimal `json:"-"`
	InvoiceID string          `json:"invoice_id,omitempty"`
	Period    *Period         `json:"period,omitempty"`
}

// CreditLedger is the fold of a tenant's credits stream, in stream order.
type CreditLedger struct {
	currency string
	minor    int32
	grants   []*creditGrant
	byID     map[string]*creditGrant
	applied  map[string]CreditApplied // by invoice id
	entries  []CreditEntry
}

// NewCreditLedger returns an empty ledger in the catalogue's currency.
func NewCreditLedger(currency string) (*CreditLedger, error) {
	minor, err := MinorUnits(currency)
	if err != nil {
		return nil, fmt.Errorf("credits: %w", err)
	}
	return &CreditLedger{currency: currency, minor: minor, byID: map[string]*creditGrant{}, applied: map[string]CreditApplied{}}, nil
}

// Currency is the ledger's currency.
func (l *CreditLedger) Currency() string { return l.currency }

// Grant folds a credit.granted event.
func (l *CreditLedger) Grant(g CreditGranted) error {
	if err := g.Validate(l.currency); err != nil {
		return fmt.Errorf("grant %s: %w", g.GrantID, err)
	}
	if _, dup := l.byID[g.GrantID]; dup {
		return fmt.Errorf("grant %s: %w: granted twice", g.GrantID, ErrInvalidCredit)
	}
	d := decimal.RequireFromString(g.Amount) // Validate parsed it
	cg := &creditGrant{CreditGranted: g, amount: d, remaining: d, seq: len(l.grants)}
	l.grants = append(l.grants, cg)
	l.byID[g.GrantID] = cg
	l.entries = append(l.entries, CreditEntry{At: g.At, Type: EntryGranted, GrantID: g.GrantID, Amount: d})
	return nil
}

// Void folds a credit.voided event; its amount must be the grant's remaining balance.
func (l *CreditLedger) Void(v CreditVoided) error {
	g, ok := l.byID[v.GrantID]
	if !ok {
		return fmt.Errorf("void %s: %w: no such grant", v.GrantID, ErrInvalidCredit)
	}
	if g.voided != nil {
		return fmt.Errorf("void %s: %w: already voided", v.GrantID, ErrInvalidCredit)
	}
	d, err := decimal.NewFromString(v.Amount)
	if err != nil || !d.Equal(g.remaining) {
		return fmt.Errorf("void %s: %w: amount %q is not the remaining %s", v.GrantID, ErrInvalidCredit, v.Amount, g.remaining.StringFixed(l.minor))
	}
	vv := v
	g.voided, g.remaining = &vv, decimal.Zero
	l.entries = append(l.entries, CreditEntry{At: v.At, Type: EntryVoided, GrantID: v.GrantID, Amount: d.Neg()})
	return nil
}

// Apply folds a credit.applied event: each allocation must fit its grant's
// remaining balance, and an invoice applies credit once.
func (l *CreditLedger) Apply(a CreditApplied) error {
	if _, dup := l.applied[a.InvoiceID]; dup {
		return fmt.Errorf("apply to %s: %w: credit already applied to this invoice", a.InvoiceID, ErrInvalidCredit)
	}
	type take struct {
		g *creditGrant
		d decimal.Decimal
	}
	var takes []take
	for _, al := range a.Allocations {
		g, ok := l.byID[al.GrantID]
		if !ok {
			return fmt.Errorf("apply to %s: %w: no grant %s", a.InvoiceID, ErrInvalidCredit, al.GrantID)
		}
		d, err := decimal.NewFromString(al.Amount)
		if err != nil || !d.IsPositive() || d.GreaterThan(g.remaining) {
			return fmt.Errorf("apply to %s: %w: %q from grant %s (remaining %s)", a.InvoiceID, ErrInvalidCredit, al.Amount, al.GrantID, g.remaining)
		}
		takes = append(takes, take{g, d})
	}
	for _, tk := range takes {
		tk.g.remaining = tk.g.remaining.Sub(tk.d)
		p := a.Period
		l.entries = append(l.entries, CreditEntry{At: a.At, Type: EntryApplied, GrantID: tk.g.GrantID, Amount: tk.d.Neg(), InvoiceID: a.InvoiceID, Period: &p})
	}
	l.applied[a.InvoiceID] = a
	return nil
}

// Applied returns the credit an invoice has applied, if any.
func (l *CreditLedger) Applied(invoiceID string) (CreditApplied, bool) {
	a, ok := l.applied[invoiceID]
	return a, ok
}

// GrantOf returns a grant and its remaining balance.
func (l *CreditLedger) GrantOf(id string) (CreditGranted, decimal.Decimal, bool) {
	g, ok := l.byID[id]
	if !ok {
		return CreditGranted{}, decimal.Zero, false
	}
	return g.CreditGranted, g.remaining, true
}

// ApplyCredits decides the credit an invoice of period p takes, given the fold
// of the tenant's grants, voids and earlier applications, and the invoice's
// total before credits: eligible grants (UsableFor p, with a remaining balance)
// in order of priority (lower first), then earliest expiry (none last), then
// grant order; each gives min(remaining, what is still due), so the invoice
// never goes below zero. Amounts are exact in the currency's minor unit (grants
// and totals are). It returns one allocation and one credit line per grant used.
func ApplyCredits(l *CreditLedger, p Period, total decimal.Decimal) ([]CreditAllocation, []Line) {
	due := total
	if !due.IsPositive() {
		return nil, nil
	}
	var usable []*creditGrant
	for _, g := range l.grants {
		if g.remaining.IsPositive() && g.voided == nil && g.UsableFor(p) {
			usable = append(usable, g)
		}
	}
	slices.SortStableFunc(usable, func(a, b *creditGrant) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		switch {
		case a.ExpiresAt != nil && b.ExpiresAt == nil:
			return -1
		case a.ExpiresAt == nil && b.ExpiresAt != nil:
			return 1
		case a.ExpiresAt != nil && !a.ExpiresAt.Equal(*b.ExpiresAt):
			return a.ExpiresAt.Compare(*b.ExpiresAt)
		}
		return a.seq - b.seq
	})
	var allocs []CreditAllocation
	var lines []Line
	for _, g := range usable {
		if !due.IsPositive() {
			break
		}
		take := decimal.Min(g.remaining, due)
		due = due.Sub(take)
		allocs = append(allocs, CreditAllocation{GrantID: g.GrantID, Amount: take.StringFixed(l.minor)})
		lines = append(lines, Line{
			Kind: LineCredit, Grant: g.GrantID, Description: creditDescription(g.CreditGranted),
			Quantity: decimal.Zero, Billable: decimal.Zero, Amount: take.Neg(),
		})
	}
	return allocs, lines
}

func creditDescription(g CreditGranted) string {
	s := fmt.Sprintf("%s credit %s, priority %d", g.Kind, g.GrantID, g.Priority)
	if g.ExpiresAt != nil {
		s += ", expires " + g.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return s + ": " + g.Reason
}

// CreditBalance is the credit a tenant holds in one currency at an instant:
// Available (effective, unexpired, not voided) and Scheduled (not yet effective).
type CreditBalance struct {
	Currency  string
	Available decimal.Decimal
	Scheduled decimal.Decimal
}

// CreditGrantStatus is a grant's state at an instant.
type CreditGrantStatus string

// The grant states.
const (
	GrantScheduled CreditGrantStatus = "scheduled"
	GrantActive    CreditGrantStatus = "active"
	GrantUsed      CreditGrantStatus = "used"
	GrantExpired   CreditGrantStatus = "expired"
	GrantVoided    CreditGrantStatus = "voided"
)

// CreditGrantState is a grant with its remaining balance and status at an instant.
type CreditGrantState struct {
	CreditGranted
	Remaining decimal.Decimal
	Status    CreditGrantStatus
}

// CreditReport is the tenant's credits at an instant: the balance, every grant
// with what remains, and the ledger in time order (stream order for one instant).
type CreditReport struct {
	Balance CreditBalance
	Grants  []CreditGrantState
	Ledger  []CreditEntry
}

// Report summarizes the ledger at now. A grant past its expiry with a balance
// left shows an expired entry at its expiry time for that balance. (An invoice
// of a period ending at or before the expiry may still be closed after it, in
// the grace window, and take from it: the expired amount is what is left then.)
func (l *CreditLedger) Report(now time.Time) CreditReport {
	rep := CreditReport{Balance: CreditBalance{Currency: l.currency, Available: decimal.Zero, Scheduled: decimal.Zero}}
	rep.Ledger = slices.Clone(l.entries)
	for _, g := range l.grants {
		st := CreditGrantState{CreditGranted: g.CreditGranted, Remaining: g.remaining}
		expired := g.ExpiresAt != nil && !now.Before(*g.ExpiresAt)
		switch {
		case g.voided != nil:
			st.Status = GrantVoided
		case g.remaining.IsZero():
			st.Status = GrantUsed
		case expired:
			st.Status = GrantExpired
			rep.Ledger = append(rep.Ledger, CreditEntry{At: *g.ExpiresAt, Type: EntryExpired, GrantID: g.GrantID, Amount: g.remaining.Neg()})
		case now.Before(g.EffectiveAt):
			st.Status = GrantScheduled
			rep.Balance.Scheduled = rep.Balance.Scheduled.Add(g.remaining)
		default:
			st.Status = GrantActive
			rep.Balance.Available = rep.Balance.Available.Add(g.remaining)
		}
		rep.Grants = append(rep.Grants, st)
	}
	slices.SortStableFunc(rep.Ledger, func(a, b CreditEntry) int { return a.At.Compare(b.At) })
	return rep
}

// Minor is the ledger currency's minor-unit digits.
func (l *CreditLedger) Minor() int32 { return l.minor }

// TotalBeforeCredits is the sum of the invoice's lines other than credit lines.
func (inv Invoice) TotalBeforeCredits() decimal.Decimal {
	total := decimal.Zero
	for _, ln := range inv.Lines {
		if ln.Kind != LineCredit {
			total = total.Add(ln.Amount)
		}
	}
	return total
}
