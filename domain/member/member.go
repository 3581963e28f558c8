package member

import (
	"slices"
	"time"
)

// Stable event type names. Never rename: they are stored.
const (
	TypeAdded           = "member.added"
	TypeRolesChanged    = "member.roles_changed"
	TypeRemoved         = "member.removed"
	TypePasswordChanged = "member.password_changed"
	TypeImported        = "members.imported"
)

// The roster: one stream per tenant, the truth about who is a member, with
// which roles, and since when their sessions hold (decision 15).
const (
	RosterStreamID   = "members"
	RosterStreamType = "members"
)

// Sources of a member.
const (
	SourceOnboarding = "onboarding"
	SourceAdmin      = "admin"
	SourceInvitation = "invitation"
	SourceImport     = "import"
)

// Reasons for a password change.
const (
	PasswordChange = "change"
	PasswordReset  = "reset"
)

// Added puts a user on the roster after its user.added event (which holds the
// email's uniqueness and the first password hash).
type Added struct {
	UserID        string    `json:"user_id"`
	Email         string    `json:"email"`
	Roles         []string  `json:"roles"`
	Source        string    `json:"source"`
	EmailVerified bool      `json:"email_verified,omitempty"`
	At            time.Time `json:"at"`
}

// RolesChanged replaces a member's roles and revokes their sessions.
type RolesChanged struct {
	UserID string    `json:"user_id"`
	Roles  []string  `json:"roles"`
	From   []string  `json:"from"`
	At     time.Time `json:"at"`
}

// Removed takes a member off the roster and revokes their sessions; the email
// may then be added again, as a new user.
type Removed struct {
	UserID string    `json:"user_id"`
	At     time.Time `json:"at"`
}

// PasswordChanged replaces a member's password hash and revokes their sessions.
// The events log and the audit log never show the hash.
type PasswordChanged struct {
	UserID       string `json:"user_id"`
	PasswordHash string `json:"password_hash"`
	Reason       string `json:"reason"`
	// ResetID names the password reset that made the change, if one did.
	ResetID string    `json:"reset_id,omitempty"`
	At      time.Time `json:"at"`
}

// Imported starts the roster of a tenant whose users were added before rosters
// existed: one member per user.added found in its history.
type Imported struct {
	Members []Added   `json:"members"`
	At      time.Time `json:"at"`
}

// Member is one member folded from the roster.
type Member struct {
	UserID        string
	Email         string
	Roles         []string
	Active        bool
	EmailVerified bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// PasswordHash is the newest member.password_changed hash; "" means the
	// user.added hash still holds.
	PasswordHash string
	// SessionsFrom is the roster version of the newest event that revoked the
	// member's sessions: a session started from an older roster version is void.
	SessionsFrom int64
	// PasswordVersion is the roster version of the newest member.password_changed
	// (0: none): a password reset requested before it is void.
	PasswordVersion int64
	// PasswordResetID is the reset of the newest password change, if a reset made it.
	PasswordResetID string
}

// Has reports whether the member holds role.
func (m *Member) Has(role string) bool { return slices.Contains(m.Roles, role) }

// Roster is a tenant's roster folded. It is immutable once folded: Apply is
// called only on a fresh copy (Clone).
type Roster struct {
	Version int64
	order   []string
	byID    map[string]*Member
}

// Clone returns a copy that Apply may change without touching r.
func (r *Roster) Clone() *Roster {
	out := &Roster{Version: r.Version, order: slices.Clone(r.order), byID: make(map[string]*Member, len(r.byID))}
	for id, m := range r.byID {
		c := *m
		c.Roles = slices.Clone(m.Roles)
		out.byID[id] = &c
	}
	return out
}

// Get returns the member with this user id (active or removed).
func (r *Roster) Get(userID string) (*Member, bool) {
	if r == nil || r.byID == nil {
		return nil, false
	}
	m, ok := r.byID[userID]
	return m, ok
}

// Members returns the roster's members in the order they were added, removed
// ones included (check Active).
func (r *Roster) Members() []*Member {
	out := make([]*Member, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.byID[id])
	}
	return out
}

// Admins counts the active members holding role.
func (r *Roster) Admins(role string) int {
	n := 0
	for _, m := range r.byID {
		if m.Active && m.Has(role) {
			n++
		}
	}
	return n
}

// Apply folds one roster event at version.
func (r *Roster) Apply(version int64, ev any) {
	if r.byID == nil {
		r.byID = map[string]*Member{}
	}
	add := func(a Added) {
		if _, ok := r.byID[a.UserID]; ok {
			return
		}
		r.order = append(r.order, a.UserID)
		r.byID[a.UserID] = &Member{UserID: a.UserID, Email: a.Email, Roles: slices.Clone(a.Roles), Active: true,
			EmailVerified: a.EmailVerified, CreatedAt: a.At, UpdatedAt: a.At}
	}
	switch e := ev.(type) {
	case *Added:
		add(*e)
	case *Imported:
		for _, a := range e.Members {
			add(a)
		}
	case *RolesChanged:
		if m, ok := r.byID[e.UserID]; ok {
			m.Roles, m.UpdatedAt, m.SessionsFrom = slices.Clone(e.Roles), e.At, version
		}
	case *Removed:
		if m, ok := r.byID[e.UserID]; ok {
			m.Active, m.UpdatedAt, m.SessionsFrom = false, e.At, version
		}
	case *PasswordChanged:
		if m, ok := r.byID[e.UserID]; ok {
			m.PasswordHash, m.UpdatedAt, m.SessionsFrom, m.PasswordVersion = e.PasswordHash, e.At, version, version
			m.PasswordResetID = e.ResetID
			if e.Reason == PasswordReset {
				// A reset proves the member reads mail at the address.
				m.EmailVerified = true
			}
		}
	}
	r.Version = version
}
