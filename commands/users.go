package commands

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
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
	if err := s.requireRole(m, identity.RoleTenantAdmin); err != nil {
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
	if s.Users != nil {
		return s.addDirectoryUser(ctx, m, tid, email, role, c.Password)
	}
	stream := events.StreamID(tenant.UserStreamID(email))
	if res, dup, err := s.firstResult(ctx, m, tid, stream); err != nil {
		return User{}, err
	} else if dup {
		return s.retriedUser(tid, res, c.Password)
	}
	userID := uuid.Must(uuid.NewV7()).String()
	hash, err := s.credentials(ctx, DirectoryUser{TenantID: string(tid), UserID: userID, Email: email, Password: c.Password, Role: role}, false)
	if err != nil {
		return User{}, err
	}
	ev := &tenant.UserAdded{UserID: userID, Email: email, PasswordHash: hash, Roles: []string{role}, At: s.Clock.Now()}
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: stream, StreamType: tenant.UserStreamType,
		Expected: events.NoStream, IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint,
		CorrelationID: m.CorrelationID, Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(ev)},
	})
	if errors.Is(err, events.ErrConcurrency) {
		// A concurrent attempt of this very request may have added the user.
		if res, dup, ferr := s.firstResult(ctx, m, tid, stream); ferr != nil || dup {
			if ferr != nil {
				return User{}, ferr
			}
			return s.retriedUser(tid, res, c.Password)
		}
		return User{}, errUserExists
	}
	if err != nil {
		return User{}, storeError("add user", err)
	}
	return addedUser(tid, res)
}

// errUserExists answers an AddUser of an email the tenant already has.
var errUserExists = &domain.Error{Code: domain.CodeConflict, Field: "email", Message: "a user with this email already exists in the tenant"}

// retriedUser answers a keyed retry with the first attempt's user, if the
// password is the same (the fingerprint leaves passwords out; the stored hash
// checks it, where the store keeps one).
func (s *Service) retriedUser(tid events.TenantID, res events.AppendResult, password string) (User, error) {
	if res.Events[0].Type == tenant.TypeUserAdded {
		stored, err := events.DecodeAs[tenant.UserAdded](schema.Registry, res.Events[0])
		if err != nil {
			return User{}, storeError("decode user", err)
		}
		if err := s.samePassword(password, stored.PasswordHash); err != nil {
			return User{}, err
		}
	}
	return addedUser(tid, res)
}

// addedUser is the answer of an add-user append (or of its first attempt).
func addedUser(tid events.TenantID, res events.AppendResult) (User, error) {
	if res.Events[0].Type != tenant.TypeUserAdded {
		return User{}, errKeyReused
	}
	stored, err := events.DecodeAs[tenant.UserAdded](schema.Registry, res.Events[0])
	if err != nil {
		return User{}, storeError("decode user", err)
	}
	return User{UserID: stored.UserID, TenantID: string(tid), Email: stored.Email, Roles: slices.Clone(stored.Roles)}, nil
}

// findUser loads a user by tenant and normalized email.
func (s *Service) findUser(ctx context.Context, tid events.TenantID, email string) (tenant.UserAdded, bool, error) {
	evs, err := s.Store.Load(ctx, tid, events.StreamID(tenant.UserStreamID(email)), 1)
	if errors.Is(err, events.ErrNotFound) {
		return tenant.UserAdded{}, false, nil
	}
	if err != nil {
		return tenant.UserAdded{}, false, storeError("load user", err)
	}
	u, err := events.DecodeAs[tenant.UserAdded](schema.Registry, evs[0])
	if err != nil {
		return tenant.UserAdded{}, false, storeError("decode user", err)
	}
	return u, true, nil
}

func redactPasswordHash(data json.RawMessage) json.RawMessage {
	return redactField(data, "password_hash")
}

// redactField replaces field of an event's data, if present, by "[redacted]".
func redactField(data json.RawMessage, field string) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	if _, ok := m[field]; ok {
		m[field] = "[redacted]"
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}
