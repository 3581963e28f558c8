package member

import "time"

// Session event types. Never rename: they are stored.
const (
	TypeSessionStarted   = "session.started"
	TypeSessionRefreshed = "session.refreshed"
	TypeSessionRevoked   = "session.revoked"
	TypeLoginFailed      = "login.failed"
)

// SessionStreamType is the type of SessionStreamID streams: one per login.
const SessionStreamType = "session"

// SessionStreamID is the stream of one session (its refresh-token family).
func SessionStreamID(sessionID string) string { return "session-" + sessionID }

// LoginFailuresStreamType is the type of LoginFailuresStreamID streams.
const LoginFailuresStreamType = "login_failures"

// LoginFailuresStreamID is the tenant's stream of the failed logins of one UTC
// day, so no stream grows without bound.
func LoginFailuresStreamID(at time.Time) string {
	return "loginfailures-" + at.UTC().Format("20060102")
}

// Reasons a session ends.
const (
	RevokedLogout         = "logout"
	RevokedReuse          = "refresh_token_reused"
	RevokedPasswordChange = "password_changed"
)

// SessionStarted is a successful login: the first refresh token of a family.
type SessionStarted struct {
	SessionID string `json:"session_id"`
	UserID    string `json:"user_id"`
	// RefreshHash is the keyed hash of the session's first refresh token.
	RefreshHash string `json:"refresh_hash"`
	// RosterVersion is the roster version the login read: the session is void
	// once the member's SessionsFrom is newer.
	RosterVersion int64     `json:"roster_version"`
	ClientIP      string    `json:"client_ip,omitempty"`
	ExpiresAt     time.Time `json:"expires_at"`
	At            time.Time `json:"at"`
}

// SessionRefreshed rotates the session's refresh token: only the newest one
// refreshes; presenting an older one revokes the session.
type SessionRefreshed struct {
	SessionID   string    `json:"session_id"`
	RefreshHash string    `json:"refresh_hash"`
	At          time.Time `json:"at"`
}

// SessionRevoked ends a session.
type SessionRevoked struct {
	SessionID string    `json:"session_id"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// LoginFailed is a login to the tenant that failed its password check.
type LoginFailed struct {
	Email    string    `json:"email"`
	Reason   string    `json:"reason"`
	ClientIP string    `json:"client_ip,omitempty"`
	At       time.Time `json:"at"`
}

// Session is a session folded.
type Session struct {
	ID            string
	UserID        string
	RosterVersion int64
	ExpiresAt     time.Time
	// Hashes are the refresh-token hashes, oldest first: the last one is current.
	Hashes  []string
	Revoked bool
	Reason  string
	Version int64
}

// Apply folds one session event at version.
func (s *Session) Apply(version int64, ev any) {
	switch e := ev.(type) {
	case *SessionStarted:
		s.ID, s.UserID, s.RosterVersion, s.ExpiresAt = e.SessionID, e.UserID, e.RosterVersion, e.ExpiresAt
		s.Hashes = append(s.Hashes, e.RefreshHash)
	case *SessionRefreshed:
		s.Hashes = append(s.Hashes, e.RefreshHash)
	case *SessionRevoked:
		if !s.Revoked {
			s.Revoked, s.Reason = true, e.Reason
		}
	}
	s.Version = version
}
