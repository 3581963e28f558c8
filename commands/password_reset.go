package commands

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Password resets (docs/ARCHITECTURE.md, decision 15). A request for an active
// member appends password_reset.requested to a stream of its own; the
// notification of that event carries the reset token, derived as an
// invitation's is (EnrichNotification), never stored. Confirming appends
// password_reset.completed at the exact version it read (the single-use
// claim, with the new hash), then the roster's member.password_changed with
// reason reset, which revokes every session of the member and marks the email
// verified. A retry with the same token and password after a crash between the
// two finishes the change.

// ResetTTL is how long a password reset can be confirmed.
const ResetTTL = time.Hour

// ResetsPerHour is how many password resets one account can be sent per UTC
// clock hour: a request past it answers as any other and sends nothing.
const ResetsPerHour = 3

// DefaultResetAnswerTime is the least time a password-reset request takes
// (Service.ResetAnswerTime): more than the lookups and the append of a real
// request take, so a request for an unknown email answers as late.
const DefaultResetAnswerTime = 250 * time.Millisecond

// ErrBadResetToken is the one answer to a reset token that is malformed,
// forged, of another kind, expired, used (by another password) or voided by a
// later password change or removal.
var ErrBadResetToken = &domain.Error{Code: domain.CodeInvalid, Field: "token",
	Message: "The password reset token is not valid: it may be mistyped, expired or already used."}

// errResetUnavailable answers the reset routes where a user directory
// (Cognito) holds the passwords.
var errResetUnavailable = domain.Errorf(domain.CodeUnavailable, "password resets are not available on this deployment")

// resetNamespace names reset ids (resetID).
var resetNamespace = uuid.MustParse("6f1d2c0e-8a51-4f4b-9d3e-2b7c6a1e9f40")

// RequestPasswordReset asks for a password reset by tenant name and email.
type RequestPasswordReset struct {
	TenantName string
	Email      string
}

// RequestPasswordReset sends a password reset to the member the tenant name
// and email name, if there is one. The answer is the same either way (nil, or
// an input error that does not depend on the account) and comes no earlier
// than ResetAnswerTime after the call, so neither it nor its timing tells
// whether the account exists. Failures past the input checks are logged, not
// returned, for the same reason.
func (s *Service) RequestPasswordReset(ctx context.Context, m Meta, c RequestPasswordReset) error {
	if c.TenantName == "" || len(c.TenantName) > 256 {
		return domain.FieldError("tenant_name", "is required")
	}
	email, err := normalizeResetEmail(c.Email)
	if err != nil {
		return err
	}
	if s.Users != nil {
		if _, ok := s.Users.(DirectoryPasswords); !ok {
			return errResetUnavailable
		}
	}
	start := time.Now()
	if err := s.requestReset(ctx, m, c.TenantName, email); err != nil {
		s.logger().ErrorContext(ctx, "password reset request failed", "err", err)
	}
	wait := s.ResetAnswerTime
	if wait == 0 {
		wait = DefaultResetAnswerTime
	}
	if d := wait - time.Since(start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return nil
}

func normalizeResetEmail(email string) (string, error) {
	if email == "" {
		return "", domain.FieldError("email", "is required")
	}
	return tenant.NormalizeEmail(email)
}

// requestReset appends the reset of the member, if any. The reset's id is
// derived from the member, the UTC hour and a slot number below
// ResetsPerHour, and appended to a stream that must not exist: the store
// itself bounds an account to ResetsPerHour resets an hour, on every
// instance and under any concurrency, so nobody can mail-bomb a member or grow
// the store faster than that, and unknown accounts write nothing.
func (s *Service) requestReset(ctx context.Context, m Meta, tenantName, email string) error {
	tid, found, err := s.TenantByName(ctx, tenantName)
	if err != nil || !found {
		return err
	}
	ctx = events.WithTenantScope(ctx, tid)
	u, found, err := s.findUser(ctx, tid, email)
	if err != nil || !found {
		return err
	}
	r, err := s.roster(ctx, tid)
	if err != nil {
		return err
	}
	now := s.Clock.Now()
	hour := now.UTC().Truncate(time.Hour)
	for slot := range ResetsPerHour {
		id := resetID(tid, u.UserID, hour, slot)
		_, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(member.ResetStreamID(id)), StreamType: member.ResetStreamType,
			Expected: events.NoStream, CorrelationID: m.CorrelationID,
			Events: []events.NewEvent{newEvent(&member.ResetRequested{ResetID: id, UserID: u.UserID, Email: email,
				RosterVersion: r.Version, ExpiresAt: now.Add(ResetTTL), At: now})},
		})
		if errors.Is(err, events.ErrConcurrency) {
			continue // this slot is taken: the next
		}
		return storeError("request password reset", err)
	}
	s.logger().InfoContext(ctx, "password reset limit reached; nothing sent", "tenant", tid, "user", u.UserID)
	return nil
}

// resetID is the id of slot of a member's resets in one UTC hour.
func resetID(tid events.TenantID, userID string, hour time.Time, slot int) string {
	return uuid.NewSHA1(resetNamespace, []byte(string(tid)+"\x00"+userID+"\x00"+hour.Format(time.RFC3339)+"\x00"+strconv.Itoa(slot))).String()
}

// ConfirmPasswordReset sets a new password with a reset token.
type ConfirmPasswordReset struct {
	Token       string
	NewPassword string
}

// ConfirmPasswordReset replaces the member's password and revokes every
// session of the member. It is single use: another password with the same
// token is refused, the same one again finishes or repeats the change.
func (s *Service) ConfirmPasswordReset(ctx context.Context, m Meta, c ConfirmPasswordReset, policy PasswordPolicy) error {
	dp, directory := s.Users.(DirectoryPasswords)
	if s.Users != nil && !directory {
		return errResetUnavailable
	}
	if c.NewPassword == "" || len(c.NewPassword) > maxPasswordBytes {
		return domain.FieldError("new_password", "is required")
	}
	if policy != nil {
		if err := policy(c.NewPassword); err != nil {
			return renameField(err, "password", "new_password")
		}
	}
	tok, ok := s.verifyDerivedToken(member.ResetPrefix, resetKind, c.Token)
	if !ok {
		return ErrBadResetToken
	}
	tid := events.TenantID(tok.Tenant)
	ctx = events.WithTenantScope(ctx, tid)
	rs, hash, err := s.claimReset(ctx, m, tid, tok.ID, c.NewPassword)
	if err != nil {
		return err
	}
	req := rs.Requested
	// judge is the roster's say: done (this reset made the newest change),
	// void (another change came after the request, or the member is gone),
	// or to do.
	judge := func(r *member.Roster) (done bool, err error) {
		mem, ok := r.Get(req.UserID)
		switch {
		case !ok || !mem.Active || mem.Email != req.Email:
			return false, ErrBadResetToken
		case mem.PasswordResetID == req.ResetID || hash != "" && mem.PasswordHash == hash:
			return true, nil // changed by an earlier or a concurrent attempt
		case mem.PasswordVersion > req.RosterVersion:
			return false, ErrBadResetToken // another change came after the request
		}
		return false, nil
	}
	rosterHash := hash
	if directory {
		// The directory keeps the password; it is set before the roster
		// records it, and setting it again is harmless, so a retry after a
		// failure between the two completes the change.
		r, err := s.roster(ctx, tid)
		if err != nil {
			return err
		}
		if done, err := judge(r); err != nil || done {
			return err
		}
		if err := dp.SetPassword(ctx, DirectoryUser{TenantID: string(tid), UserID: req.UserID, Email: req.Email}, c.NewPassword); err != nil {
			return err
		}
		rosterHash = ""
	}
	_, err = s.appendRoster(ctx, m, tid, func(r *member.Roster) (any, error) {
		if done, err := judge(r); err != nil || done {
			return nil, err
		}
		return &member.PasswordChanged{UserID: req.UserID, PasswordHash: rosterHash, Reason: member.PasswordReset, ResetID: req.ResetID, At: s.Clock.Now()}, nil
	})
	return err
}

// claimReset loads the reset and returns it with the hash of its new
// password: password_reset.completed appended now at the exact version read,
// or found (then only for the same password).
func (s *Service) claimReset(ctx context.Context, m Meta, tid events.TenantID, id, password string) (member.Reset, string, error) {
	for attempt := 0; ; attempt++ {
		rs, err := s.loadReset(ctx, tid, id)
		if err != nil {
			return member.Reset{}, "", err
		}
		if rs.Completed != nil {
			ok, err := s.verifyPassword(ctx, password, rs.Completed.PasswordHash)
			if NotChecked(err) {
				return member.Reset{}, "", err
			}
			if err != nil || !ok {
				return member.Reset{}, "", ErrBadResetToken
			}
			return rs, rs.Completed.PasswordHash, nil
		}
		now := s.Clock.Now()
		if !now.Before(rs.Requested.ExpiresAt) {
			return member.Reset{}, "", ErrBadResetToken
		}
		if err := s.resetStillValid(ctx, tid, rs.Requested); err != nil {
			return member.Reset{}, "", err
		}
		hash, err := s.Passwords.Hash(password)
		if err != nil {
			return member.Reset{}, "", err
		}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(member.ResetStreamID(id)), StreamType: member.ResetStreamType,
			Expected: events.Exactly(rs.Version), CorrelationID: m.CorrelationID, Actor: rs.Requested.UserID,
			Events: []events.NewEvent{newEvent(&member.ResetCompleted{ResetID: id, UserID: rs.Requested.UserID, PasswordHash: hash, At: now})},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < maxRosterAttempts {
			continue // completed meanwhile: judge again
		}
		if err != nil {
			return member.Reset{}, "", storeError("complete password reset", err)
		}
		return rs, hash, nil
	}
}

// resetStillValid checks that the member a reset was requested for is still
// the email's active member, with no password change since the request.
func (s *Service) resetStillValid(ctx context.Context, tid events.TenantID, req member.ResetRequested) error {
	u, _, exists, err := s.userRecord(ctx, tid, req.Email)
	if err != nil {
		return err
	}
	if !exists || u.UserID != req.UserID {
		return ErrBadResetToken
	}
	r, err := s.roster(ctx, tid)
	if err != nil {
		return err
	}
	mem, ok := r.Get(req.UserID)
	if !ok || !mem.Active || mem.PasswordVersion > req.RosterVersion {
		return ErrBadResetToken
	}
	return nil
}

// loadReset folds a reset's stream; a missing one is ErrBadResetToken.
func (s *Service) loadReset(ctx context.Context, tid events.TenantID, id string) (member.Reset, error) {
	evs, err := s.Store.Load(ctx, tid, events.StreamID(member.ResetStreamID(id)), 1)
	if errors.Is(err, events.ErrNotFound) || errors.Is(err, events.ErrInvalid) {
		return member.Reset{}, ErrBadResetToken
	}
	if err != nil {
		return member.Reset{}, storeError("load password reset", err)
	}
	var rs member.Reset
	for _, e := range evs {
		p, err := schema.Registry.Decode(e)
		if err != nil {
			return member.Reset{}, storeError("decode password reset", err)
		}
		rs.Apply(e.Version, p)
	}
	if rs.Requested.ResetID == "" {
		return member.Reset{}, ErrBadResetToken
	}
	return rs, nil
}

// verifyPassword checks a password against a stored hash, waiting for room
// in the hasher's budget no longer than the request (ContextVerifier).
func (s *Service) verifyPassword(ctx context.Context, password, hash string) (bool, error) {
	if v, ok := s.Passwords.(ContextVerifier); ok {
		return v.VerifyContext(ctx, password, hash)
	}
	return s.Passwords.Verify(password, hash)
}

// renameField returns err with an input error on field from reported on field to.
func renameField(err error, from, to string) error {
	var de *domain.Error
	if errors.As(err, &de) && de.Field == from {
		e := *de
		e.Field = to
		return &e
	}
	return err
}
