package commands

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Sessions (docs/ARCHITECTURE.md, decision 15): a local login starts a
// session, one stream whose events are the hashes of its refresh tokens. A
// refresh rotates the token; presenting a token already rotated away revokes
// the whole session (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2), since
// either its holder or a thief is replaying it. A session also ends when the
// roster revokes its member's sessions (a role change, a removal, a new
// password): the session holds the roster version its login read.

// SessionTTL is how long a session can be refreshed after its login.
const SessionTTL = 30 * 24 * time.Hour

// refreshKind names refresh tokens in their keyed hashes.
const refreshKind = "refresh"

// startSession appends the session of a login that checked the password of
// the member u (at roster version) and issues its tokens.
func (a *Auth) startSession(ctx context.Context, tid events.TenantID, u tenant.UserAdded, roles []string, rosterVersion int64, clientIP string) (Tokens, error) {
	s := a.Service
	sid := uuid.Must(uuid.NewV7()).String()
	tok, err := member.NewToken(rand.Reader, member.RefreshPrefix, string(tid), sid)
	if err != nil {
		return Tokens{}, err
	}
	now := s.Clock.Now()
	_, err = s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: events.StreamID(member.SessionStreamID(sid)), StreamType: member.SessionStreamType,
		Expected: events.NoStream, Actor: u.UserID,
		Events: []events.NewEvent{newEvent(&member.SessionStarted{SessionID: sid, UserID: u.UserID,
			RefreshHash: s.refreshHash(sid, tok.Secret), RosterVersion: rosterVersion, ClientIP: clientIP,
			ExpiresAt: now.Add(SessionTTL), At: now})},
	})
	if err != nil {
		return Tokens{}, storeError("start session", err)
	}
	t, err := a.Issuer.Issue(identity.Principal{TenantID: string(tid), UserID: u.UserID, Email: u.Email, Roles: roles})
	t.RefreshToken = tok.String()
	return t, err
}

func (s *Service) refreshHash(sid, secret string) string {
	return hex.EncodeToString(s.cursors().TokenHashes(refreshKind, sid, secret)[0])
}

// sessionOf parses a refresh token and loads its session; gen is the index of
// the token among the session's (len(Hashes)-1: the current one), -1 when it
// matches none. A token that does not parse or names no session is ErrBadRefreshToken.
func (s *Service) sessionOf(ctx context.Context, token string) (events.TenantID, member.Session, int, error) {
	tok, err := member.ParseToken(member.RefreshPrefix, token)
	if err != nil {
		return "", member.Session{}, -1, ErrBadRefreshToken
	}
	tid := events.TenantID(tok.Tenant)
	if tid.Validate() != nil {
		return "", member.Session{}, -1, ErrBadRefreshToken
	}
	evs, err := s.Store.Load(ctx, tid, events.StreamID(member.SessionStreamID(tok.ID)), 1)
	if errors.Is(err, events.ErrNotFound) || errors.Is(err, events.ErrInvalid) {
		return "", member.Session{}, -1, ErrBadRefreshToken
	}
	if err != nil {
		return "", member.Session{}, -1, storeError("load session", err)
	}
	var sess member.Session
	for _, e := range evs {
		p, err := schema.Registry.Decode(e)
		if err != nil {
			return "", member.Session{}, -1, storeError("decode session", err)
		}
		sess.Apply(e.Version, p)
	}
	gen := -1
	for _, h := range s.cursors().TokenHashes(refreshKind, tok.ID, tok.Secret) {
		for i, stored := range sess.Hashes {
			b, err := hex.DecodeString(stored)
			if err == nil && hmac.Equal(b, h) {
				gen = i
			}
		}
	}
	return tid, sess, gen, nil
}

// revokeSession ends a session (a no-op for one already revoked).
func (s *Service) revokeSession(ctx context.Context, tid events.TenantID, sess member.Session, reason string) error {
	if sess.Revoked {
		return nil
	}
	actor := sess.UserID
	if reason == member.RevokedReuse {
		actor = "" // the platform revoked it: whoever replayed the token is unknown
	}
	_, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: events.StreamID(member.SessionStreamID(sess.ID)), StreamType: member.SessionStreamType,
		Expected: events.AnyVersion, Actor: actor,
		Events: []events.NewEvent{newEvent(&member.SessionRevoked{SessionID: sess.ID, Reason: reason, At: s.Clock.Now()})},
	})
	if err != nil {
		return storeError("revoke session", err)
	}
	return nil
}

// refreshSession rotates a local session's refresh token and issues new tokens
// with the member's current roles.
func (a *Auth) refreshSession(ctx context.Context, token string) (Tokens, error) {
	s := a.Service
	for attempt := 0; attempt < maxRosterAttempts; attempt++ {
		tid, sess, gen, err := s.sessionOf(ctx, token)
		if err != nil {
			return Tokens{}, err
		}
		switch {
		case gen < 0 || sess.Revoked || !s.Clock.Now().Before(sess.ExpiresAt):
			return Tokens{}, ErrBadRefreshToken
		case gen < len(sess.Hashes)-1:
			// Rotated away already: the whole family goes.
			if err := s.revokeSession(ctx, tid, sess, member.RevokedReuse); err != nil {
				return Tokens{}, err
			}
			s.logger().WarnContext(ctx, "refresh token reused: session revoked", "tenant", tid, "session", sess.ID, "user", sess.UserID)
			return Tokens{}, ErrBadRefreshToken
		}
		r, err := s.roster(ctx, tid)
		if err != nil {
			return Tokens{}, err
		}
		mem, ok := r.Get(sess.UserID)
		if !ok || !mem.Active || sess.RosterVersion < mem.SessionsFrom {
			return Tokens{}, ErrBadRefreshToken
		}
		next, err := member.NewToken(rand.Reader, member.RefreshPrefix, string(tid), sess.ID)
		if err != nil {
			return Tokens{}, err
		}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(member.SessionStreamID(sess.ID)), StreamType: member.SessionStreamType,
			Expected: events.Exactly(sess.Version), Actor: sess.UserID,
			Events: []events.NewEvent{newEvent(&member.SessionRefreshed{SessionID: sess.ID, RefreshHash: s.refreshHash(sess.ID, next.Secret), At: s.Clock.Now()})},
		})
		if errors.Is(err, events.ErrConcurrency) {
			continue // another refresh (or a revocation) came first: judge the token again
		}
		if err != nil {
			return Tokens{}, storeError("refresh session", err)
		}
		t, err := a.Issuer.Issue(identity.Principal{TenantID: string(tid), UserID: mem.UserID, Email: mem.Email, Roles: mem.Roles})
		t.RefreshToken = next.String()
		return t, err
	}
	return Tokens{}, errBusy
}

// Logout ends the session of a refresh token (RFC 7009: an invalid or
// already revoked token is no error, so the answer reveals nothing). With a
// Revoker (Cognito) it revokes there.
func (a *Auth) Logout(ctx context.Context, refreshToken string) error {
	if refreshToken == "" || len(refreshToken) > 8192 {
		return ErrBadRefreshTokenField
	}
	if a.Revoker != nil {
		return a.Revoker.Revoke(ctx, refreshToken)
	}
	if a.Refresher != nil {
		// The identity provider's tokens are not the local sessions': saying
		// 204 without revoking would be a lie.
		return domain.Errorf(domain.CodeUnavailable, "logout is not available on this deployment")
	}
	tid, sess, gen, err := a.Service.sessionOf(ctx, refreshToken)
	if errors.Is(err, ErrBadRefreshToken) || (err == nil && gen < 0) {
		return nil
	}
	if err != nil {
		return err
	}
	reason := member.RevokedLogout
	if gen < len(sess.Hashes)-1 {
		reason = member.RevokedReuse
	}
	return a.Service.revokeSession(ctx, tid, sess, reason)
}

// TokenRevoker revokes a refresh token in an identity provider (Cognito's RevokeToken).
type TokenRevoker interface {
	Revoke(ctx context.Context, refreshToken string) error
}
