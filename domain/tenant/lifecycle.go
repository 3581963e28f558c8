package tenant

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantstream/tenantstream/domain"
)

// Tenant states (docs/lifecycle.md). A tenant without a lifecycle event is
// active.
const (
	StatusActive      = "active"
	StatusSuspended   = "suspended"
	StatusOffboarding = "offboarding"
	StatusErased      = "erased"
)

// Lifecycle event types, on the tenant's profile stream. Never rename: they are stored.
const (
	TypeSuspended          = "tenant.suspended"
	TypeReactivated        = "tenant.reactivated"
	TypeOffboardingStarted = "tenant.offboarding_started"
	TypeErased             = "tenant.erased"
)

// MaxReasonLen bounds a lifecycle reason (bytes of UTF-8).
const MaxReasonLen = 500

// Suspended refuses the tenant's writes until it is reactivated. Notify lists
// the emails of the tenant's admins when it was suspended, so the outbox can
// tell them without reading another stream.
type Suspended struct {
	Reason string    `json:"reason"`
	Notify []string  `json:"notify,omitempty"`
	At     time.Time `json:"at"`
}

// Reactivated ends a suspension.
type Reactivated struct {
	Reason string    `json:"reason"`
	Notify []string  `json:"notify,omitempty"`
	At     time.Time `json:"at"`
}

// OffboardingStarted makes the tenant read-only for good: its export stays
// available, billing issues one final invoice for the period up to At and then
// skips it. Erase says whether the operator asked for its data to be erased.
type OffboardingStarted struct {
	Reason string    `json:"reason"`
	Erase  bool      `json:"erase"`
	At     time.Time `json:"at"`
}

// Erased records that the tenant's data was erased (the final state).
type Erased struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ValidateReason checks a lifecycle reason: 1 to MaxReasonLen bytes of UTF-8
// text without control characters other than newline and tab.
func ValidateReason(reason string) error {
	r := strings.TrimSpace(reason)
	if r == "" {
		return domain.FieldError("reason", "is required: say why")
	}
	if len(reason) > MaxReasonLen {
		return domain.FieldError("reason", "must be at most %d bytes", MaxReasonLen)
	}
	if !utf8.ValidString(reason) {
		return domain.FieldError("reason", "must be UTF-8 text")
	}
	for _, c := range reason {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			return domain.FieldError("reason", "must not hold control characters")
		}
	}
	return nil
}

// Transition checks that a tenant in state from may move to state to: suspend
// only an active tenant, reactivate only a suspended one, offboard an active
// or suspended one, erase only an offboarding one; erased is final.
func Transition(from, to string) error {
	ok := false
	switch to {
	case StatusSuspended:
		ok = from == StatusActive
	case StatusActive:
		ok = from == StatusSuspended
	case StatusOffboarding:
		ok = from == StatusActive || from == StatusSuspended
	case StatusErased:
		ok = from == StatusOffboarding
	}
	if !ok {
		return domain.Errorf(domain.CodeConflict, "a tenant that is %s cannot become %s", from, to)
	}
	return nil
}

// statusOf is t's status, active when no lifecycle event set one, and erased
// once its data keys were destroyed (tenant.data_erased), whatever the
// lifecycle events said: `tenants erase` destroys them without an operator's
// offboarding first.
func (t *Tenant) statusOf() string {
	if t.KeysDestroyed {
		return StatusErased
	}
	return t.LifecycleState()
}

// LifecycleState is the state the lifecycle events recorded ("active" when
// none did): what a transition starts from.
func (t Tenant) LifecycleState() string {
	if t.Status == "" {
		return StatusActive
	}
	return t.Status
}

// State is the tenant's status ("active" when none was recorded, "erased"
// once its data keys are destroyed).
func (t Tenant) State() string { return t.statusOf() }

// Writable reports whether the tenant's own principals may write.
func (t Tenant) Writable() bool { return t.statusOf() == StatusActive }
