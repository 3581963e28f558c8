package billing

// TypeInvoiceIssued is the stable type name of the invoice.issued event. Never rename.
const TypeInvoiceIssued = "invoice.issued"

// InvoiceStreamType is the stream type of invoice streams ("invoice-<YYYY-MM>").
const InvoiceStreamType = "invoice"

// Issued is the invoice.issued event: the immutable invoice plus what it was
// computed from, so an audit can recompute exactly the same fold.
type Issued struct {
	Invoice Invoice `json:"invoice"`
	// UsageVersion is the version of the period's usage stream the ledger folded;
	// usage recorded after it is late usage, billed as adjustments later.
	UsageVersion int64 `json:"usage_version"`
	// Opening holds the gauge levels (max/latest meters) carried into the period,
	// as decimal strings.
	Opening map[string]string `json:"opening,omitempty"`
	// ProfileVersion is the version of the tenant's profile stream whose plan
	// history gave the segments.
	ProfileVersion int64 `json:"profile_version"`
	// Late lists the late usage of earlier, already invoiced periods that this
	// invoice billed as adjustment lines, so a later close bills only newer late
	// usage and an audit can recompute the adjustments.
	Late []LateBilled `json:"late,omitempty"`
	// CreditsVersion is the version of the credit.applied event on the tenant's
	// credits stream that decided the invoice's credit lines (0: issued before
	// credits existed). The audit recomputes the application from the events
	// before it.
	CreditsVersion int64 `json:"credits_version,omitempty"`
}

// LateBilled names late usage of an earlier period billed on a later invoice:
// versions FromVersion+1 through ToVersion of the period's usage stream, rated
// against that period's issued ledger folded up to FromVersion.
type LateBilled struct {
	Period      Period `json:"period"`
	FromVersion int64  `json:"from_version"`
	ToVersion   int64  `json:"to_version"`
}
