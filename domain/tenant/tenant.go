package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/domain"
)

// Stable event type names. Never rename: they are stored.
const (
	TypeOnboarded    = "tenant.onboarded"
	TypePlanChanged  = "tenant.plan_changed"
	TypeNameReserved = "tenant.name_reserved"
	TypeUserAdded    = "user.added"
	// TypeReservationExpired starts the profile stream of a tenant whose name
	// reservation expired before it was onboarded, so it never can be.
	TypeReservationExpired = "tenant.reservation_expired"
	// TypeUserClaimed claims an email for a user being added to a directory
	// that keeps credentials outside the store (Cognito).
	TypeUserClaimed = "user.claimed"
)

// Stream types and ids.
const (
	StreamType     = "tenant"
	StreamID       = "tenant" // one profile stream per tenant
	UserStreamType = "user"
	NameStreamType = "tenant_name"
	// UserClaimStreamType is the type of UserClaimStreamID streams.
	UserClaimStreamType = "user_claim"
)

// Onboarded starts a tenant's profile stream.
type Onboarded struct {
	TenantID    string    `json:"tenant_id"`
	Name        string    `json:"tenant_name"`
	Plan        string    `json:"plan"`
	AdminUserID string    `json:"admin_user_id"`
	AdminEmail  string    `json:"admin_email"`
	At          time.Time `json:"at"`
	// PlanVersion is the version of Plan the tenant subscribed to (the latest
	// in the price book then, docs/ARCHITECTURE.md, decision 14); 0 in events
	// recorded before plans had versions, which means version 1.
	PlanVersion int `json:"plan_version,omitempty"`
}

// PlanChanged moves a tenant to another plan, or to another version of its plan
// (a migration), effective At.
type PlanChanged struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
	// PlanVersion is the version of To now in force; 0 in events recorded
	// before plans had versions, which means version 1.
	PlanVersion int `json:"plan_version,omitempty"`
}

// NameReserved claims a tenant name platform-wide (stream name-<lowercase name>).
// The first reservation is appended with expected version "no stream", so the
// name is unique; a reservation that expired before its tenant was onboarded is
// superseded by the next one, appended at the exact version it saw. The newest
// reservation of the stream is the name's.
type NameReserved struct {
	Name       string `json:"tenant_name"`
	TenantID   string `json:"tenant_id"`
	AdminEmail string `json:"admin_email"`
	UserID     string `json:"admin_user_id"`
	Plan       string `json:"plan"`
	// PasswordVerifier is an argon2id hash (PHC string) of the admin's password,
	// so that only the same request can resume an onboarding interrupted after
	// the reservation. Empty in reservations recorded before it existed.
	PasswordVerifier string `json:"password_verifier,omitempty"`
	// At is when the name was reserved; zero in reservations recorded before it
	// existed, whose envelope's occurred_at stands in.
	At time.Time `json:"at,omitzero"`
}

// ReservationExpired is the first and only event of the profile stream of a
// tenant whose name reservation expired unonboarded and was taken over. It and
// tenant.onboarded are both appended with expected version "no stream", so
// exactly one of them wins: an onboarding either completes or is abandoned.
type ReservationExpired struct {
	Name string    `json:"tenant_name"`
	At   time.Time `json:"at"`
}

// UserAdded creates a user in a tenant (stream user-<email key>).
type UserAdded struct {
	UserID       string    `json:"user_id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"password_hash"`
	Roles        []string  `json:"roles"`
	At           time.Time `json:"at"`
}

// UserClaimed claims an email for the user an AddUser is creating in a user
// directory, before the directory is asked (stream userclaim-<email key>): the
// directory call cannot be undone, so it runs only for the request that holds
// the claim (docs/ARCHITECTURE.md, decision 13). The newest claim of the stream
// is the email's; one older than the claim lease may be taken over.
type UserClaimed struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
	// PasswordHash is an argon2id verifier of the password, so that only the
	// same request resumes the claim. The events log redacts it.
	PasswordHash string    `json:"password_hash"`
	At           time.Time `json:"at"`
}

// Tenant is the folded profile.
type Tenant struct {
	ID   string `json:"tenant_id"`
	Name string `json:"tenant_name"`
	Plan string `json:"plan"`
	// PlanVersion is the version of Plan in force (0: recorded before plans
	// had versions, version 1).
	PlanVersion int       `json:"plan_version,omitempty"`
	AdminID     string    `json:"admin_user_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
	// Status is the lifecycle state (docs/lifecycle.md): StatusActive, or the
	// last lifecycle event's. StatusReason and StatusAt are that event's.
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason,omitempty"`
	StatusAt     time.Time `json:"status_at,omitzero"`
	// OffboardedAt is when offboarding started (zero: never): billing's end.
	OffboardedAt time.Time `json:"offboarded_at,omitzero"`
	// KeysDestroyed is set by tenant.data_erased: the tenant's data keys are
	// gone, so it is erased whatever its lifecycle events say.
	KeysDestroyed bool `json:"keys_destroyed,omitempty"`
}

// Apply folds one profile event into the tenant.
func (t *Tenant) Apply(version int64, ev any) {
	switch e := ev.(type) {
	case *Onboarded:
		t.ID, t.Name, t.Plan, t.PlanVersion, t.AdminID = e.TenantID, e.Name, e.Plan, e.PlanVersion, e.AdminUserID
		t.CreatedAt, t.UpdatedAt = e.At, e.At
	case *PlanChanged:
		t.Plan, t.PlanVersion, t.UpdatedAt = e.To, e.PlanVersion, e.At
	case *Suspended:
		t.Status, t.StatusReason, t.StatusAt, t.UpdatedAt = StatusSuspended, e.Reason, e.At, e.At
	case *Reactivated:
		t.Status, t.StatusReason, t.StatusAt, t.UpdatedAt = StatusActive, e.Reason, e.At, e.At
	case *OffboardingStarted:
		t.Status, t.StatusReason, t.StatusAt, t.UpdatedAt = StatusOffboarding, e.Reason, e.At, e.At
		t.OffboardedAt = e.At
	case *Erased:
		t.Status, t.StatusReason, t.StatusAt, t.UpdatedAt = StatusErased, e.Reason, e.At, e.At
	case *DataErased:
		t.KeysDestroyed, t.UpdatedAt = true, e.At
		if t.Status != StatusOffboarding {
			// Erased without an operator's offboarding (`tenants erase`); an
			// offboarding tenant's tenant.erased follows and says why.
			t.Status, t.StatusAt = StatusErased, e.At
		}
	}
	if t.Status == "" && t.ID != "" {
		t.Status = StatusActive
	}
	t.Version = version
}

// NameKey is the case-insensitive uniqueness key of a tenant name.
func NameKey(name string) string { return strings.ToLower(name) }

// NameStreamID is the platform stream that reserves a tenant name.
func NameStreamID(name string) string { return "name-" + NameKey(name) }

// UserStreamID is the stream of the user with this (normalized) email in a tenant.
// Emails are hashed because '@' is not a stream-id character; the stream's
// "no stream" precondition makes emails unique within a tenant.
func UserStreamID(normalizedEmail string) string {
	sum := sha256.Sum256([]byte(normalizedEmail))
	return "user-" + hex.EncodeToString(sum[:16])
}

// UserClaimStreamID is the stream that claims an email for a user being added
// to a user directory (see UserClaimed).
func UserClaimStreamID(normalizedEmail string) string {
	sum := sha256.Sum256([]byte(normalizedEmail))
	return "userclaim-" + hex.EncodeToString(sum[:16])
}

// ValidateName checks a tenant name: 3-63 characters of a-z, 0-9, '_' and '-'
// (upper case is accepted and compared without case).
func ValidateName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return domain.FieldError("tenant_name", "must be 3-63 characters long")
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return domain.FieldError("tenant_name", "may contain only a-z, 0-9, '_' and '-'")
		}
	}
	return nil
}

// NormalizeEmail validates an email address and returns its canonical (lower-case) form.
func NormalizeEmail(email string) (string, error) {
	if len(email) == 0 || len(email) > 254 {
		return "", domain.FieldError("email", "must be 1-254 characters long")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "", domain.FieldError("email", "is not a valid email address")
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || !strings.Contains(email[at+1:], ".") || strings.ContainsAny(email, " \t\r\n") {
		return "", domain.FieldError("email", "is not a valid email address")
	}
	return strings.ToLower(email), nil
}
