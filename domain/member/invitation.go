package member

import "time"

// Invitation and password-reset event types. Never rename: they are stored.
const (
	TypeInvitationCreated  = "invitation.created"
	TypeInvitationAccepted = "invitation.accepted"
	TypeInvitationRevoked  = "invitation.revoked"
	TypeResetRequested     = "password_reset.requested"
	TypeResetCompleted     = "password_reset.completed"
)

// Stream types of invitations and resets: one stream each.
const (
	InvitationStreamType = "invitation"
	ResetStreamType      = "password_reset"
)

// InvitationStreamID is the stream of one invitation.
func InvitationStreamID(id string) string { return "invitation-" + id }

// ResetStreamID is the stream of one password reset.
func ResetStreamID(id string) string { return "pwreset-" + id }

// InvitationCreated invites an email with roles. Its one-time accept token is
// derived from the server's token key and the invitation id, never stored:
// only the invitation.created notification carries it (decision 15).
type InvitationCreated struct {
	InvitationID string    `json:"invitation_id"`
	Email        string    `json:"email"`
	Roles        []string  `json:"roles"`
	ExpiresAt    time.Time `json:"expires_at"`
	At           time.Time `json:"at"`
}

// InvitationAccepted uses the invitation up: the user it created, and a
// verifier of the password chosen, so only the same accept resumes after a crash.
type InvitationAccepted struct {
	InvitationID string    `json:"invitation_id"`
	UserID       string    `json:"user_id"`
	PasswordHash string    `json:"password_hash"`
	At           time.Time `json:"at"`
}

// InvitationRevoked withdraws an invitation not yet accepted.
type InvitationRevoked struct {
	InvitationID string    `json:"invitation_id"`
	At           time.Time `json:"at"`
}

// ResetRequested starts a password reset of a member; its token is derived as
// an invitation's is.
type ResetRequested struct {
	ResetID string `json:"reset_id"`
	UserID  string `json:"user_id"`
	Email   string `json:"email"`
	// RosterVersion is the roster version the request read: a password change
	// (or a removal) after it voids the reset.
	RosterVersion int64     `json:"roster_version,omitempty"`
	ExpiresAt     time.Time `json:"expires_at"`
	At            time.Time `json:"at"`
}

// ResetCompleted uses the reset up, with the new password's hash.
type ResetCompleted struct {
	ResetID      string    `json:"reset_id"`
	UserID       string    `json:"user_id"`
	PasswordHash string    `json:"password_hash"`
	At           time.Time `json:"at"`
}

// Invitation is one invitation folded from its stream.
type Invitation struct {
	Created  InvitationCreated
	Accepted *InvitationAccepted // the first acceptance; later ones never commit
	Revoked  bool
	Version  int64
}

// Apply folds one invitation event at version.
func (i *Invitation) Apply(version int64, ev any) {
	switch e := ev.(type) {
	case *InvitationCreated:
		i.Created = *e
	case *InvitationAccepted:
		if i.Accepted == nil {
			a := *e
			i.Accepted = &a
		}
	case *InvitationRevoked:
		i.Revoked = true
	}
	i.Version = version
}

// Pending reports whether the invitation can still be accepted at now.
func (i *Invitation) Pending(now time.Time) bool {
	return i.Accepted == nil && !i.Revoked && now.Before(i.Created.ExpiresAt)
}

// Reset is one password reset folded from its stream.
type Reset struct {
	Requested ResetRequested
	Completed *ResetCompleted // the first completion; later ones never commit
	Version   int64
}

// Apply folds one password-reset event at version.
func (r *Reset) Apply(version int64, ev any) {
	switch e := ev.(type) {
	case *ResetRequested:
		r.Requested = *e
	case *ResetCompleted:
		if r.Completed == nil {
			c := *e
			r.Completed = &c
		}
	}
	r.Version = version
}
