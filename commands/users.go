package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// AddUser adds a member (or another admin) to the tenant; tenant_admin only.
type AddUser struct {
	Tenant   string
	Email    string
	Password string
	Role     string // tenant_member (default) or tenant_admin
}

// User is a user as the API shows it (never with its password hash).
type User struct {
	UserID   string   `json:"user_id"`
	TenantID string   `json:"tenant_id"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// AddUser runs the command.
func (s *Service) AddUser(ctx context.Context, m Meta, c AddUser, policy PasswordPolicy) (User, error) {
	tid, err := s.authorizeTenant(ctx, m, c.Tenant)
	if err != nil {
		return User{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return User{}, err
	}
	if err := s.requireRole(ctx, m, tid, identity.RoleTenantAdmin); err != nil {
		return User{}, err
	}
	email, err := tenant.NormalizeEmail(c.Email)
	if err != nil {
		return User{}, err
	}
	role := c.Role
	if role == "" {
		role = identity.RoleTenantMember
	}
	if role != identity.RoleTenantMember && role != identity.RoleTenantAdmin {
		return User{}, domain.FieldError("role", "must be %s or %s", identity.RoleTenantMember, identity.RoleTenantAdmin)
	}
	if policy != nil {
		if err := policy(c.Password); err != nil {
			return User{}, err
		}
	}
	// The plan's seats: users and pending invitations (entitlements.go).
	release, err := s.admitSeat(ctx, tid, email)
	if err != nil {
		return User{}, err
	}
	defer release()
	if s.Users != nil {
		return s.addDirectoryUser(ctx, m, tid, email, role, c.Password)
	}
	stream := events.StreamID(tenant.UserStreamID(email))
	if res, dup, err := s.firstResult(ctx, m, tid, stream); err != nil {
		return User{}, err
	} else if dup {
		return s.retriedUser(ctx, m, tid, res, c.Password, member.SourceAdmin)
	}
	expected, err := s.freeEmail(ctx, tid, email)
	if err != nil {
		return User{}, err
	}
	userID := uuid.Must(uuid.NewV7()).String()
	hash, err := s.credentials(ctx, DirectoryUser{TenantID: string(tid), UserID: userID, Email: email, Password: c.Password, Role: role}, false)
	if err != nil {
		return User{}, err
	}
	ev := &tenant.UserAdded{UserID: userID, Email: email, PasswordHash: hash, Roles: []string{role}, At: s.Clock.Now()}
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: stream, StreamType: tenant.UserStreamType,
		Expected: expected, IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint,
		CorrelationID: m.CorrelationID, Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(ev)},
	})
	if errors.Is(err, events.ErrConcurrency) {
		// A concurrent attempt of this very request may have added the user.
		if res, dup, ferr := s.firstResult(ctx, m, tid, stream); ferr != nil || dup {
			if ferr != nil {
				return User{}, ferr
			}
			return s.retriedUser(ctx, m, tid, res, c.Password, member.SourceAdmin)
		}
		return User{}, errUserExists
	}
	if err != nil {
		return User{}, storeError("add user", err)
	}
	return s.addedUser(ctx, m, tid, res, member.SourceAdmin)
}

// freeEmail returns the expected version at which a new user.added may take
// the email: no stream yet, or the stream of a removed member. An active
// member's email is a 409.
func (s *Service) freeEmail(ctx context.Context, tid events.TenantID, email string) (events.ExpectedVersion, error) {
	u, version, exists, err := s.userRecord(ctx, tid, email)
	if err != nil {
		return 0, err
	}
	if !exists {
		if version > 0 {
			return events.Exactly(version), nil
		}
		return events.NoStream, nil
	}
	mem, _, err := s.memberOf(ctx, tid, u)
	if err != nil {
		return 0, err
	}
	if mem != nil && mem.Active {
		return 0, errUserExists
	}
	return events.Exactly(version), nil
}

// errUserExists answers an AddUser of an email the tenant already has.
var errUserExists = &domain.Error{Code: domain.CodeConflict, Field: "email", Message: "a user with this email already exists in the tenant"}

// retriedUser answers a keyed retry with the first attempt's user, if the
// password is the same (the fingerprint leaves passwords out; the stored hash
// checks it, where the store keeps one).
func (s *Service) retriedUser(ctx context.Context, m Meta, tid events.TenantID, res events.AppendResult, password, source string) (User, error) {
	if res.Events[0].Type == tenant.TypeUserAdded {
		stored, err := events.DecodeAs[tenant.UserAdded](schema.Registry, res.Events[0])
		if err != nil {
			return User{}, storeError("decode user", err)
		}
		if err := s.samePassword(password, stored.PasswordHash); err != nil {
			return User{}, err
		}
	}
	return s.addedUser(ctx, m, tid, res, source)
}

// addedUser is the answer of an add-user append (or of its first attempt),
// once the user is on the roster.
func (s *Service) addedUser(ctx context.Context, m Meta, tid events.TenantID, res events.AppendResult, source string) (User, error) {
	if res.Events[0].Type != tenant.TypeUserAdded {
		return User{}, errKeyReused
	}
	stored, err := events.DecodeAs[tenant.UserAdded](schema.Registry, res.Events[0])
	if err != nil {
		return User{}, storeError("decode user", err)
	}
	if _, err := s.ensureMember(ctx, m, tid, member.Added{UserID: stored.UserID, Email: stored.Email, Roles: stored.Roles, Source: source, At: stored.At}); err != nil {
		return User{}, err
	}
	return User{UserID: stored.UserID, TenantID: string(tid), Email: stored.Email, Roles: slices.Clone(stored.Roles)}, nil
}

// findUser loads the user an email names in the tenant: the newest user.added
// of its stream, if that user is an active member (a removed member's email
// names nobody until it is added again). A user.added the roster lacks (its
// command stopped before its member.added) is put on the roster first.
func (s *Service) findUser(ctx context.Context, tid events.TenantID, email string) (tenant.UserAdded, bool, error) {
	u, _, exists, err := s.userRecord(ctx, tid, email)
	if err != nil || !exists {
		return tenant.UserAdded{}, false, err
	}
	mem, _, err := s.memberOf(ctx, tid, u)
	if err != nil || mem == nil || !mem.Active {
		return tenant.UserAdded{}, false, err
	}
	u.Roles = slices.Clone(mem.Roles)
	if mem.PasswordHash != "" {
		u.PasswordHash = mem.PasswordHash
	}
	return u, true, nil
}

// userRecord loads the newest user.added of an email's stream and the stream's version.
func (s *Service) userRecord(ctx context.Context, tid events.TenantID, email string) (u tenant.UserAdded, version int64, exists bool, err error) {
	evs, err := s.Store.Load(ctx, tid, events.StreamID(tenant.UserStreamID(email)), 1)
	if errors.Is(err, events.ErrNotFound) {
		return tenant.UserAdded{}, 0, false, nil
	}
	if err != nil {
		return tenant.UserAdded{}, 0, false, storeError("load user", err)
	}
	last := evs[len(evs)-1]
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == tenant.TypeUserAdded {
			if u, err = events.DecodeAs[tenant.UserAdded](schema.Registry, evs[i]); err != nil {
				return tenant.UserAdded{}, 0, false, storeError("decode user", err)
			}
			return u, last.Version, true, nil
		}
	}
	return tenant.UserAdded{}, last.Version, false, nil
}

// memberOf returns the roster's member for a stored user.added (nil if the
// roster has it as neither member nor removed one, which cannot last: it is
// added), and the roster.
func (s *Service) memberOf(ctx context.Context, tid events.TenantID, u tenant.UserAdded) (*member.Member, *member.Roster, error) {
	r, err := s.roster(ctx, tid)
	if err != nil {
		return nil, nil, err
	}
	if mem, ok := r.Get(u.UserID); ok {
		return mem, r, nil
	}
	if r, err = s.ensureMember(ctx, Meta{}, tid, member.Added{UserID: u.UserID, Email: u.Email, Roles: u.Roles, Source: member.SourceImport, At: u.At}); err != nil {
		return nil, nil, err
	}
	mem, _ := r.Get(u.UserID)
	return mem, r, nil
}

// secretFields are the members of stored events that hold secrets (hashes of
// passwords, API keys and refresh tokens): the events log shows none of them.
var secretFields = []string{"password_hash", "password_verifier", "secret_hash", "refresh_hash", "token_hash"}

// redactSecrets replaces every secretFields member of an event's data, if
// present, by "[redacted]".
func redactSecrets(data json.RawMessage) json.RawMessage {
	for _, f := range secretFields {
		if bytes.Contains(data, []byte(`"`+f+`"`)) {
			data = redactField(data, f)
		}
	}
	return data
}

// redactField replaces field of an event's data, if present, by "[redacted]".
// Only that member changes: the others keep their stored bytes (an item's
// data, its large numbers), and data without it is returned as it is.
func redactField(data json.RawMessage, field string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	if _, ok := m[field]; !ok {
		return data
	}
	m[field] = json.RawMessage(`"[redacted]"`)
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}
