package commands

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// Invitations (docs/ARCHITECTURE.md, decision 15). An invitation is a stream of
// its own: invitation.created, then at most one of invitation.accepted (appended
// at the exact version the accept step read: the single-use claim) or
// invitation.revoked. Its accept token names the tenant and the invitation and
// carries a secret derived from the server's token key, the kind and those ids
// (cursorseal.DerivedSecrets), so nothing of it is stored anywhere: the
// notification's delivery derives it (EnrichNotification) and the accept step
// derives it again to compare. The list of pending invitations is the
// invitations projection, so creating one is a single append.

// DefaultInvitationTTL is how long an invitation can be accepted (Service.InvitationTTL).
const DefaultInvitationTTL = 7 * 24 * time.Hour

// Kinds of derived one-time tokens: part of what the secret is derived from,
// so a token of one kind never verifies as another even with its prefix changed.
const (
	invitationKind = "invitation"
	resetKind      = "password_reset"
)

// CreateInvitation invites an email into a tenant with roles; tenant_admin only.
type CreateInvitation struct {
	Tenant string
	Email  string
	// Roles default to tenant_member when nil.
	Roles []string
}

// InvitationView is an invitation as the API shows it, never with its token.
type InvitationView struct {
	InvitationID string    `json:"invitation_id"`
	Email        string    `json:"email"`
	Roles        []string  `json:"roles"`
	ExpiresAt    time.Time `json:"expires_at"`
	CreatedAt    time.Time `json:"created_at"`
}

// InvitationList is a page of a tenant's pending invitations.
type InvitationList struct {
	Invitations []InvitationView `json:"invitations"`
	NextCursor  string           `json:"next_cursor"`
}

// errAlreadyMember answers an invitation of an email that is an active member.
var errAlreadyMember = &domain.Error{Code: domain.CodeConflict, Field: "email", Message: "a user with this email is already a member of the tenant"}

// ErrBadInvitationToken is the one answer to an accept token that is
// malformed, forged, of another kind or tenant, expired, revoked or used by
// another password, so the answer never tells which.
var ErrBadInvitationToken = &domain.Error{Code: domain.CodeInvalid, Field: "token",
	Message: "The invitation token is not valid: it may be mistyped, expired, revoked or already used."}

func (s *Service) invitationTTL() time.Duration {
	if s.InvitationTTL > 0 {
		return s.InvitationTTL
	}
	return DefaultInvitationTTL
}

// CreateInvitation runs the command. The invitation.created notification
// carries the accept token (EnrichNotification).
func (s *Service) CreateInvitation(ctx context.Context, m Meta, c CreateInvitation) (InvitationView, error) {
	tid, err := s.authorizeKeyAdmin(ctx, m, c.Tenant)
	if err != nil {
		return InvitationView{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return InvitationView{}, err
	}
	email, err := tenant.NormalizeEmail(c.Email)
	if err != nil {
		return InvitationView{}, err
	}
	roles := []string{identity.RoleTenantMember}
	if c.Roles != nil {
		if roles, err = canonicalRoles(c.Roles); err != nil {
			return InvitationView{}, err
		}
	}
	// A retry gets the first answer, even if the email became a member since.
	if v, dup, err := s.firstInvitation(ctx, m, tid); err != nil || dup {
		return v, err
	}
	if _, found, err := s.findUser(ctx, tid, email); err != nil {
		return InvitationView{}, err
	} else if found {
		return InvitationView{}, errAlreadyMember
	}
	// A pending invitation takes a seat of the plan (entitlements.go).
	release, err := s.admitSeat(ctx, tid, email)
	if err != nil {
		return InvitationView{}, err
	}
	defer release()
	now := s.Clock.Now()
	id := uuid.Must(uuid.NewV7()).String()
	ev := &member.InvitationCreated{InvitationID: id, Email: email, Roles: roles, ExpiresAt: now.Add(s.invitationTTL()), At: now}
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: events.StreamID(member.InvitationStreamID(id)), StreamType: member.InvitationStreamType,
		Expected: events.NoStream, IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint,
		CorrelationID: m.CorrelationID, Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(ev)},
	})
	if errors.Is(err, events.ErrIdempotencyKeyReuse) {
		// Every attempt picks a new id, so a concurrent attempt of this very
		// request that won the key wrote another stream: answer with its invitation.
		if v, dup, ferr := s.firstInvitation(ctx, m, tid); ferr != nil || dup {
			return v, ferr
		}
	}
	if err != nil {
		return InvitationView{}, storeError("create invitation", err)
	}
	if !res.Duplicate {
		s.invited(tid, id, email, now)
	}
	return invitationView(res)
}

// firstInvitation answers the keyed retry of a CreateInvitation: the key's
// first append must have created an invitation (whose stream id each attempt
// picks anew, so firstResult's stream cannot be known) with this fingerprint.
func (s *Service) firstInvitation(ctx context.Context, m Meta, tid events.TenantID) (InvitationView, bool, error) {
	key := m.storeKey()
	if key == "" {
		return InvitationView{}, false, nil
	}
	rec, found, err := s.Store.Idempotency(ctx, tid, key)
	if err != nil {
		return InvitationView{}, false, storeError("read idempotency key", err)
	}
	if !found {
		return InvitationView{}, false, nil
	}
	if !strings.HasPrefix(string(rec.Stream), member.InvitationStreamID("")) || !rec.Matches(rec.Stream, m.Fingerprint) {
		return InvitationView{}, false, errKeyReused
	}
	v, err := invitationView(rec.Result)
	return v, true, err
}

func invitationView(res events.AppendResult) (InvitationView, error) {
	if len(res.Events) != 1 || res.Events[0].Type != member.TypeInvitationCreated {
		return InvitationView{}, errKeyReused
	}
	c, err := events.DecodeAs[member.InvitationCreated](schema.Registry, res.Events[0])
	if err != nil {
		return InvitationView{}, storeError("decode invitation", err)
	}
	return InvitationView{InvitationID: c.InvitationID, Email: c.Email, Roles: slices.Clone(c.Roles), ExpiresAt: c.ExpiresAt.UTC(), CreatedAt: c.At.UTC()}, nil
}

// invitationsCursorPrefix marks a sealed invitations cursor, so no cursor of
// another list opens as one.
const invitationsCursorPrefix = "invitations\x00"

// ListInvitations lists the tenant's pending invitations (not accepted,
// revoked or expired) oldest first, from the invitations projection (so it may
// lag a creation by the projection lag); tenant_admin only.
func (s *Service) ListInvitations(ctx context.Context, m Meta, tenantID, after string, limit int) (InvitationList, error) {
	tid, err := s.authorizeKeyAdmin(ctx, m, tenantID)
	if err != nil {
		return InvitationList{}, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	from := ""
	if after != "" {
		c, err := s.cursors().Open(tid, after)
		if err != nil || !strings.HasPrefix(string(c), invitationsCursorPrefix) {
			return InvitationList{}, domain.FieldError("after", "invalid cursor")
		}
		from = strings.TrimPrefix(string(c), invitationsCursorPrefix)
	}
	out := InvitationList{Invitations: []InvitationView{}}
	if s.Reader == nil {
		return out, nil
	}
	now := s.Clock.Now()
	for {
		entries, err := s.Reader.List(ctx, projections.InvitationsProjection, tid, projections.InvitationsCollection, from, 500)
		if err != nil {
			return InvitationList{}, storeError("list invitations", err)
		}
		for _, e := range entries {
			var p projections.PendingInvitation
			if err := json.Unmarshal(e.Value, &p); err != nil {
				return InvitationList{}, storeError("decode invitation", err)
			}
			if !now.Before(p.ExpiresAt) {
				continue
			}
			if len(out.Invitations) == limit {
				// One more is pending: the page ends after the last one shown.
				last := out.Invitations[limit-1].InvitationID
				out.NextCursor = s.cursors().Seal(tid, events.Cursor(invitationsCursorPrefix+last))
				return out, nil
			}
			out.Invitations = append(out.Invitations, InvitationView{InvitationID: p.InvitationID, Email: p.Email,
				Roles: slices.Clone(p.Roles), ExpiresAt: p.ExpiresAt, CreatedAt: p.CreatedAt})
		}
		if len(entries) < 500 {
			return out, nil
		}
		from = entries[len(entries)-1].Key
	}
}

// errNoSuchInvitation answers an invitation id the tenant does not have.
var errNoSuchInvitation = domain.Errorf(domain.CodeNotFound, "no such invitation")

// validInvitationID reports whether id is an invitation id as this service
// makes them (a UUID in its canonical form), before any store is read.
func validInvitationID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// RevokeInvitation withdraws an invitation not yet accepted (409 once
// accepted); revoking a revoked one changes nothing. tenant_admin only.
func (s *Service) RevokeInvitation(ctx context.Context, m Meta, tenantID, invitationID string) error {
	tid, err := s.authorizeKeyAdmin(ctx, m, tenantID)
	if err != nil {
		return err
	}
	if err := s.requireRevocable(ctx, m, tid); err != nil {
		return err
	}
	if !validInvitationID(invitationID) {
		return errNoSuchInvitation
	}
	for attempt := 0; ; attempt++ {
		inv, err := s.loadInvitation(ctx, tid, invitationID)
		if errors.Is(err, errNoInvitation) {
			return errNoSuchInvitation
		}
		if err != nil {
			return err
		}
		switch {
		case inv.Accepted != nil:
			return &domain.Error{Code: domain.CodeConflict, Field: "invitation_id", Message: "the invitation was accepted already; remove the user instead"}
		case inv.Revoked:
			return nil
		}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(member.InvitationStreamID(invitationID)), StreamType: member.InvitationStreamType,
			Expected: events.Exactly(inv.Version), CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
			Events: []events.NewEvent{newEvent(&member.InvitationRevoked{InvitationID: invitationID, At: s.Clock.Now()})},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < maxRosterAttempts {
			continue // accepted or revoked meanwhile: judge again
		}
		if err == nil {
			s.uninvited(tid, invitationID)
		}
		return storeError("revoke invitation", err)
	}
}

// errNoInvitation is loadInvitation's answer for a stream that does not exist.
var errNoInvitation = errors.New("no such invitation")

// loadInvitation folds an invitation's stream (errNoInvitation if none).
func (s *Service) loadInvitation(ctx context.Context, tid events.TenantID, id string) (member.Invitation, error) {
	evs, err := s.Store.Load(ctx, tid, events.StreamID(member.InvitationStreamID(id)), 1)
	if errors.Is(err, events.ErrNotFound) || errors.Is(err, events.ErrInvalid) {
		return member.Invitation{}, errNoInvitation
	}
	if err != nil {
		return member.Invitation{}, storeError("load invitation", err)
	}
	var inv member.Invitation
	for _, e := range evs {
		p, err := schema.Registry.Decode(e)
		if err != nil {
			return member.Invitation{}, storeError("decode invitation", err)
		}
		inv.Apply(e.Version, p)
	}
	if inv.Created.InvitationID == "" {
		return member.Invitation{}, errNoInvitation
	}
	return inv, nil
}

// InvitationToken is the accept token of an invitation: what its notification
// carries. It is derived, never stored, so it can be derived again at delivery.
func (s *Service) InvitationToken(tenant, invitationID string) string {
	return s.derivedToken(member.InvitationPrefix, invitationKind, tenant, invitationID)
}

// ResetToken is the one-time token of a password reset, derived as an
// invitation's is.
func (s *Service) ResetToken(tenant, resetID string) string {
	return s.derivedToken(member.ResetPrefix, resetKind, tenant, resetID)
}

func (s *Service) derivedToken(prefix, kind, tenant, id string) string {
	return member.Token{Prefix: prefix, Tenant: tenant, ID: id, Secret: member.EncodeSecret(s.cursors().DerivedSecrets(kind, tenant, id)[0])}.String()
}

// verifyDerivedToken parses a one-time token of kind and checks its secret
// against the one derived under each server key, in constant time, before any
// store is read: a forged, mistyped or other kind's token costs no I/O.
func (s *Service) verifyDerivedToken(prefix, kind, token string) (member.Token, bool) {
	tok, err := member.ParseToken(prefix, token)
	if err != nil || events.TenantID(tok.Tenant).Validate() != nil {
		return member.Token{}, false
	}
	ok := false
	for _, secret := range s.cursors().DerivedSecrets(kind, tok.Tenant, tok.ID) {
		if hmac.Equal([]byte(member.EncodeSecret(secret)), []byte(tok.Secret)) {
			ok = true
		}
	}
	return tok, ok
}

// EnrichNotification adds the one-time token to the notifications that carry
// one (accept_token to invitation.created, reset_token to
// password_reset.requested) and returns every other notification unchanged.
// The outbox read model holds notifications without tokens; the delivery
// paths (notify.Dispatcher.Enrich, the SNS publisher) call this as they send,
// the way a real deployment puts the link into the mail it sends.
func (s *Service) EnrichNotification(n projections.Notification) projections.Notification {
	var field, idField string
	var token func(tenant, id string) string
	switch n.Type {
	case member.TypeInvitationCreated:
		field, idField, token = "accept_token", "invitation_id", s.InvitationToken
	case member.TypeResetRequested:
		field, idField, token = "reset_token", "reset_id", s.ResetToken
	default:
		return n
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(n.Data, &data); err != nil || data == nil {
		return n
	}
	var id string
	if err := json.Unmarshal(data[idField], &id); err != nil || id == "" || events.TenantID(n.TenantID).Validate() != nil {
		return n
	}
	raw, err := json.Marshal(token(n.TenantID, id))
	if err != nil {
		return n
	}
	data[field] = raw
	out, err := json.Marshal(data)
	if err != nil {
		return n
	}
	n.Data = out
	return n
}

// AcceptInvitation asks to join a tenant with an invitation's token and a password.
type AcceptInvitation struct {
	Token    string
	Password string
	ClientIP string
}

// AcceptInvitation creates the invited user with the password and starts a
// session, answering tokens as a login does. Every step can be repeated, so a
// retry with the same token and password after a crash between any two of
// them resumes with the same user:
//
//  1. the token is verified (no I/O), the invitation loaded: not revoked, not
//     expired, not accepted with another password;
//  2. invitation.accepted {user id, argon2id hash} at the exact version read:
//     the single-use claim (of 40 concurrent accepts, one appends it; the rest
//     read it and go on only with its password);
//  3. user.added on the email's stream (with a directory, through its email
//     claim and the directory, as AddUser does);
//  4. member.added with source invitation and the email verified;
//  5. a session.
func (a *Auth) AcceptInvitation(ctx context.Context, m Meta, c AcceptInvitation, policy PasswordPolicy) (Tokens, error) {
	s := a.Service
	if c.Password == "" || len(c.Password) > maxPasswordBytes {
		return Tokens{}, domain.FieldError("password", "is required")
	}
	if policy != nil {
		if err := policy(c.Password); err != nil {
			return Tokens{}, err
		}
	}
	tok, ok := s.verifyDerivedToken(member.InvitationPrefix, invitationKind, c.Token)
	if !ok {
		return Tokens{}, ErrBadInvitationToken
	}
	tid := events.TenantID(tok.Tenant)
	// Everything from here is the invitation's tenant's (docs/ARCHITECTURE.md, decision 9d).
	ctx = events.WithTenantScope(ctx, tid)
	// Accepting adds a member: a write the tenant's state may refuse.
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return Tokens{}, err
	}
	inv, acc, err := a.claimInvitation(ctx, m, tid, tok.ID, c.Password)
	if err != nil {
		return Tokens{}, err
	}
	m.Principal = identity.Principal{TenantID: string(tid), UserID: acc.UserID}
	email := inv.Created.Email
	if s.Users != nil {
		if err := s.acceptDirectoryUser(ctx, m, tid, inv.Created, acc, c.Password); err != nil {
			return Tokens{}, err
		}
	} else if err := s.acceptLocalUser(ctx, m, tid, inv.Created, acc); err != nil {
		return Tokens{}, err
	}
	r, err := s.ensureMember(ctx, m, tid, member.Added{UserID: acc.UserID, Email: email, Roles: inv.Created.Roles,
		Source: member.SourceInvitation, EmailVerified: true, At: acc.At})
	if err != nil {
		return Tokens{}, err
	}
	mem, ok := r.Get(acc.UserID)
	if !ok || !mem.Active {
		// Accepted, then removed: the invitation is used up.
		return Tokens{}, ErrBadInvitationToken
	}
	if a.SignIn != nil {
		return a.SignIn.SignIn(ctx, tid, email, c.Password)
	}
	return a.startSession(ctx, tid, tenant.UserAdded{UserID: mem.UserID, Email: mem.Email}, mem.Roles, r.Version, c.ClientIP)
}

// claimInvitation is steps 1 and 2: it returns the invitation and its
// acceptance, appended now or found (then only with the same password).
func (a *Auth) claimInvitation(ctx context.Context, m Meta, tid events.TenantID, id, password string) (member.Invitation, member.InvitationAccepted, error) {
	s := a.Service
	for attempt := 0; ; attempt++ {
		inv, err := s.loadInvitation(ctx, tid, id)
		if errors.Is(err, errNoInvitation) {
			return member.Invitation{}, member.InvitationAccepted{}, ErrBadInvitationToken
		}
		if err != nil {
			return member.Invitation{}, member.InvitationAccepted{}, err
		}
		if inv.Revoked {
			return member.Invitation{}, member.InvitationAccepted{}, ErrBadInvitationToken
		}
		if inv.Accepted != nil {
			// Used: only the same accept (its password) goes on, to finish
			// what a crash or a concurrent attempt left, even once expired.
			ok, err := a.verify(ctx, password, inv.Accepted.PasswordHash)
			if NotChecked(err) {
				return member.Invitation{}, member.InvitationAccepted{}, err
			}
			if err != nil || !ok {
				return member.Invitation{}, member.InvitationAccepted{}, ErrBadInvitationToken
			}
			return inv, *inv.Accepted, nil
		}
		now := s.Clock.Now()
		if !inv.Pending(now) {
			return member.Invitation{}, member.InvitationAccepted{}, ErrBadInvitationToken
		}
		if _, found, err := s.findUser(ctx, tid, inv.Created.Email); err != nil {
			return member.Invitation{}, member.InvitationAccepted{}, err
		} else if found {
			return member.Invitation{}, member.InvitationAccepted{}, errInvitedIsMember
		}
		hash, err := s.Passwords.Hash(password)
		if err != nil {
			return member.Invitation{}, member.InvitationAccepted{}, err
		}
		acc := member.InvitationAccepted{InvitationID: id, UserID: uuid.Must(uuid.NewV7()).String(), PasswordHash: hash, At: now}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(member.InvitationStreamID(id)), StreamType: member.InvitationStreamType,
			Expected: events.Exactly(inv.Version), CorrelationID: m.CorrelationID, Actor: acc.UserID,
			Events: []events.NewEvent{newEvent(&acc)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < maxRosterAttempts {
			continue // accepted or revoked meanwhile: judge again
		}
		if err != nil {
			return member.Invitation{}, member.InvitationAccepted{}, storeError("accept invitation", err)
		}
		return inv, acc, nil
	}
}

// errInvitedIsMember answers an accept whose email became an active member
// (another invitation, an admin's AddUser) since the invitation was made.
var errInvitedIsMember = &domain.Error{Code: domain.CodeConflict, Field: "token", Message: "the invited email is already a member of the tenant; log in instead"}

// acceptLocalUser is step 3 when the store keeps the credentials: user.added
// with the acceptance's user id and hash, unless the email's stream has it.
func (s *Service) acceptLocalUser(ctx context.Context, m Meta, tid events.TenantID, inv member.InvitationCreated, acc member.InvitationAccepted) error {
	stream := events.StreamID(tenant.UserStreamID(inv.Email))
	for attempt := 0; ; attempt++ {
		u, _, exists, err := s.userRecord(ctx, tid, inv.Email)
		if err != nil {
			return err
		}
		if exists && u.UserID == acc.UserID {
			return nil // added by an earlier or a concurrent attempt
		}
		expected, err := s.freeEmail(ctx, tid, inv.Email)
		if errors.Is(err, errUserExists) {
			return errInvitedIsMember
		}
		if err != nil {
			return err
		}
		ev := &tenant.UserAdded{UserID: acc.UserID, Email: inv.Email, PasswordHash: acc.PasswordHash, Roles: slices.Clone(inv.Roles), At: s.Clock.Now()}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: stream, StreamType: tenant.UserStreamType, Expected: expected,
			CorrelationID: m.CorrelationID, Actor: acc.UserID, Events: []events.NewEvent{newEvent(ev)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < maxRosterAttempts {
			continue // ours, by a concurrent attempt, or someone else's: look again
		}
		return storeError("add invited user", err)
	}
}

// acceptDirectoryUser is step 3 with a UserDirectory: the email is claimed as
// AddUser claims it (docs/ARCHITECTURE.md, decision 13), under the accepted
// user id and its password verifier, so the directory never gets two
// passwords for one user; the claim then creates the user in the directory and
// appends its user.added.
func (s *Service) acceptDirectoryUser(ctx context.Context, m Meta, tid events.TenantID, inv member.InvitationCreated, acc member.InvitationAccepted, password string) error {
	email := inv.Email
	as := member.Added{Roles: inv.Roles, Source: member.SourceInvitation, EmailVerified: true}
	role := identity.RoleTenantMember
	if len(inv.Roles) > 0 {
		role = inv.Roles[0] // the directory creates a user with one group; SetRoles adds the rest
	}
	mine := tenant.UserClaimed{UserID: acc.UserID, Role: role, PasswordHash: acc.PasswordHash, At: acc.At}
	claimStream := events.StreamID(tenant.UserClaimStreamID(email))
	for range 5 {
		if u, found, err := s.findUser(ctx, tid, email); err != nil {
			return err
		} else if found {
			if u.UserID == acc.UserID {
				return nil
			}
			return errInvitedIsMember
		}
		expected := events.NoStream
		last, found, err := s.lastUserClaim(ctx, tid, email)
		if err != nil {
			return err
		}
		if found {
			c, err := events.DecodeAs[tenant.UserClaimed](schema.Registry, last)
			if err != nil {
				return storeError("decode user claim", err)
			}
			if c.UserID == acc.UserID {
				return s.createInvitedUser(ctx, m, tid, inv, last.ID, c, password, as)
			}
			if s.Clock.Now().Sub(c.At) < DirectoryClaimExpiry {
				return errUserBeingAdded
			}
			expected = events.Exactly(last.Version)
		}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: claimStream, StreamType: tenant.UserClaimStreamType, Expected: expected,
			CorrelationID: m.CorrelationID, Actor: acc.UserID, Events: []events.NewEvent{newEvent(&mine)},
		})
		if errors.Is(err, events.ErrConcurrency) {
			continue
		}
		if err != nil {
			return storeError("claim user email", err)
		}
		return s.createInvitedUser(ctx, m, tid, inv, res.Events[0].ID, mine, password, as)
	}
	return &domain.Error{Code: domain.CodeConflict, Field: "token", Message: "the user was changed concurrently; retry"}
}

// createInvitedUser creates the claimed user in the directory and on the
// store, then gives the directory user every invited role.
func (s *Service) createInvitedUser(ctx context.Context, m Meta, tid events.TenantID, inv member.InvitationCreated, claimID string, c tenant.UserClaimed, password string, as member.Added) error {
	_, err := s.createClaimedUser(ctx, m, tid, inv.Email, claimID, c, password, as)
	if errors.Is(err, errUserExists) {
		return errInvitedIsMember
	}
	if err != nil {
		return err
	}
	if d, ok := s.Users.(DirectoryAdmin); ok && len(inv.Roles) > 1 {
		if err := d.SetRoles(ctx, DirectoryUser{TenantID: string(tid), UserID: c.UserID, Email: inv.Email}, inv.Roles); err != nil {
			return storeError("set directory roles", err)
		}
	}
	return nil
}
