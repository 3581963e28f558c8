package billing

import "errors"

var (
	// ErrInvalidCatalog wraps every catalogue validation error.
	ErrInvalidCatalog = errors.New("billing: invalid catalogue")
	// ErrUnknownCurrency is returned for a currency code outside the ISO 4217 table.
	ErrUnknownCurrency = errors.New("billing: unknown currency")
	// ErrUnknownMeter is returned for usage of a meter the catalogue does not declare.
	ErrUnknownMeter = errors.New("billing: unknown meter")
	// ErrUnknownPlan is returned for a plan id the catalogue does not declare.
	ErrUnknownPlan = errors.New("billing: unknown plan")
	// ErrOutsidePeriod is returned when usage or a segment falls outside the ledger's period.
	ErrOutsidePeriod = errors.New("billing: outside the period")
	// ErrInvalidUsage is returned for usage that cannot be folded (negative quantity, no id).
	ErrInvalidUsage = errors.New("billing: invalid usage")
	// ErrInvalidSegments is returned when plan segments are not contiguous, ordered
	// and inside the period, or do not match the ledger's segments.
	ErrInvalidSegments = errors.New("billing: invalid plan segments")
	// ErrInvalidPeriod is returned by ParsePeriod for text that is not YYYY-MM.
	ErrInvalidPeriod = errors.New("billing: invalid period")
)

// FieldError is one validation failure, naming the field by its path in the catalogue.
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// Unwrap makes every FieldError match ErrInvalidCatalog.
func (e *FieldError) Unwrap() error { return ErrInvalidCatalog }
