package commands

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// UserView is a member as the users routes show it.
type UserView struct {
	UserID        string     `json:"user_id"`
	Email         string     `json:"email"`
	Roles         []string   `json:"roles"`
	Status        string     `json:"status"`
	EmailVerified bool       `json:"email_verified"`
	CreatedAt     time.Time  `json:"created_at"`
	LastLoginAt   *time.Time `json:"last_login_at"`
}

// UserList is a page of the tenant's members.
type UserList struct {
	Users      []UserView `json:"users"`
	NextCursor string     `json:"next_cursor"`
}

// StatusActive is the status of every listed member (removed ones are not listed).
const StatusActive = "active"

// DirectoryAdmin is implemented by a UserDirectory that must follow the
// roster: Cognito keeps groups for its tokens and refresh tokens of its own.
// The roster is changed first and is what every check reads; these calls
// bring the directory after it and must be safe to repeat.
type DirectoryAdmin interface {
	// SetRoles makes the user's groups exactly roles and signs the user out.
	SetRoles(ctx context.Context, u DirectoryUser, roles []string) error
	// RemoveUser deletes the user (signing it out); a user already gone is no error.
	RemoveUser(ctx context.Context, u DirectoryUser) error
}

// DirectoryPasswords is implemented by a UserDirectory that can set a user's
// password (Cognito's AdminSetUserPassword). On such a deployment
// Auth.ChangePassword checks the current password with Auth.SignIn, sets the
// new one here and signs in with it.
type DirectoryPasswords interface {
	// SetPassword makes password the user's permanent password and revokes the
	// user's refresh tokens. It must be safe to repeat. A password the
	// directory's own policy refuses is a domain error on field "password".
	SetPassword(ctx context.Context, u DirectoryUser, password string) error
}

// ListUsers lists the tenant's active members in the order they were added;
// tenant_admin only. after is the next_cursor of the page before.
func (s *Service) ListUsers(ctx context.Context, m Meta, tenantID, after string, limit int) (UserList, error) {
	tid, err := s.authorizeKeyAdmin(ctx, m, tenantID)
	if err != nil {
		return UserList{}, err
	}
	if err := s.requireReadable(ctx, tid); err != nil {
		return UserList{}, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var from string
	if after != "" {
		c, err := s.cursors().Open(tid, after)
		if err != nil || !strings.HasPrefix(string(c), usersCursorPrefix) {
			return UserList{}, domain.FieldError("after", "invalid cursor")
		}
		from = strings.TrimPrefix(string(c), usersCursorPrefix)
	}
	r, err := s.roster(ctx, tid)
	if err != nil {
		return UserList{}, err
	}
	all := r.Members()
	start := 0
	if from != "" {
		i := slices.IndexFunc(all, func(mem *member.Member) bool { return mem.UserID == from })
		if i < 0 {
			return UserList{}, domain.FieldError("after", "invalid cursor")
		}
		start = i + 1
	}
	out := UserList{Users: []UserView{}}
	last := ""
	for _, mem := range all[start:] {
		if len(out.Users) == limit {
			out.NextCursor = s.cursors().Seal(tid, events.Cursor(usersCursorPrefix+last))
			break
		}
		last = mem.UserID
		if !mem.Active {
			continue
		}
		v, err := s.userView(ctx, tid, mem)
		if err != nil {
			return UserList{}, err
		}
		out.Users = append(out.Users, v)
	}
	return out, nil
}

// usersCursorPrefix marks a sealed users cursor, so no cursor of another list
// opens as one.
const usersCursorPrefix = "users\x00"

func (s *Service) userView(ctx context.Context, tid events.TenantID, mem *member.Member) (UserView, error) {
	v := UserView{UserID: mem.UserID, Email: mem.Email, Roles: slices.Clone(mem.Roles), Status: StatusActive,
		EmailVerified: mem.EmailVerified, CreatedAt: mem.CreatedAt}
	if v.Roles == nil {
		v.Roles = []string{}
	}
	if s.Reader == nil {
		return v, nil
	}
	raw, err := s.Reader.Get(ctx, projections.LastLoginsProjection, tid, projections.LastLoginsCollection, mem.UserID)
	if errors.Is(err, projections.ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return UserView{}, storeError("read last login", err)
	}
	var ll projections.LastLogin
	if json.Unmarshal(raw, &ll) == nil && !ll.At.IsZero() {
		v.LastLoginAt = &ll.At
	}
	return v, nil
}

// errNoSuchUser answers a user id the tenant has no active member for.
var errNoSuchUser = domain.Errorf(domain.CodeNotFound, "no such user")

// errLastAdmin answers a change that would leave the tenant without an admin.
var errLastAdmin = &domain.Error{Code: domain.CodeConflict, Field: "roles",
	Message: "the tenant must keep at least one tenant_admin; make another member admin first"}

// SetUserRoles replaces a member's roles and revokes their sessions; the last
// admin cannot be demoted (409). tenant_admin only.
func (s *Service) SetUserRoles(ctx context.Context, m Meta, tenantID, userID string, roles []string) (UserView, error) {
	tid, err := s.authorizeKeyAdmin(ctx, m, tenantID)
	if err != nil {
		return UserView{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return UserView{}, err
	}
	canon, err := canonicalRoles(roles)
	if err != nil {
		return UserView{}, err
	}
	var target *member.Member
	r, err := s.appendRoster(ctx, m, tid, func(r *member.Roster) (any, error) {
		if err := s.rosterAllows(m, tid, r, identity.RoleTenantAdmin); err != nil {
			return nil, err // demoted or removed since the request was authorized
		}
		mem, ok := r.Get(userID)
		if !ok || !mem.Active {
			return nil, errNoSuchUser
		}
		target = mem
		if slices.Equal(mem.Roles, canon) {
			return nil, nil // nothing changes, no event
		}
		if mem.Has(identity.RoleTenantAdmin) && !slices.Contains(canon, identity.RoleTenantAdmin) && r.Admins(identity.RoleTenantAdmin) <= 1 {
			return nil, errLastAdmin
		}
		return &member.RolesChanged{UserID: userID, Roles: canon, From: slices.Clone(mem.Roles), At: s.Clock.Now()}, nil
	})
	if err != nil {
		return UserView{}, err
	}
	if mem, ok := r.Get(userID); ok {
		target = mem
	}
	if d, ok := s.Users.(DirectoryAdmin); ok {
		if err := d.SetRoles(ctx, DirectoryUser{TenantID: string(tid), UserID: userID, Email: target.Email}, canon); err != nil {
			return UserView{}, storeError("set directory roles", err)
		}
	}
	return s.userView(ctx, tid, target)
}

// canonicalRoles checks the roles a client sends: at least one, each a tenant
// role, in a fixed order without duplicates.
func canonicalRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, domain.FieldError("roles", "at least one of %s, %s is required", identity.RoleTenantAdmin, identity.RoleTenantMember)
	}
	for _, r := range roles {
		if r != identity.RoleTenantAdmin && r != identity.RoleTenantMember {
			return nil, domain.FieldError("roles", "unknown role %q; the roles are %s and %s", r, identity.RoleTenantAdmin, identity.RoleTenantMember)
		}
	}
	var out []string
	for _, r := range []string{identity.RoleTenantAdmin, identity.RoleTenantMember} {
		if slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// RemoveUser takes a member off the tenant and revokes their sessions; the
// last admin cannot be removed (409). tenant_admin only.
func (s *Service) RemoveUser(ctx context.Context, m Meta, tenantID, userID string) error {
	tid, err := s.authorizeKeyAdmin(ctx, m, tenantID)
	if err != nil {
		return err
	}
	if err := s.requireRevocable(ctx, m, tid); err != nil {
		return err
	}
	var target member.Member
	var redo bool
	_, err = s.appendRoster(ctx, m, tid, func(r *member.Roster) (any, error) {
		redo = false
		if err := s.rosterAllows(m, tid, r, identity.RoleTenantAdmin); err != nil {
			return nil, err // demoted or removed since the request was authorized
		}
		mem, ok := r.Get(userID)
		if !ok {
			return nil, errNoSuchUser
		}
		target = *mem
		if !mem.Active {
			// Removed already. The directory's part may have failed after the
			// roster's (a 503): a retry completes it, unless the email is a
			// member again, whose directory user (the same username) it would delete.
			redo = activeByEmail(r, mem.Email) == nil
			return nil, errNoSuchUser
		}
		if mem.Has(identity.RoleTenantAdmin) && r.Admins(identity.RoleTenantAdmin) <= 1 {
			return nil, &domain.Error{Code: domain.CodeConflict, Field: "user_id", Message: errLastAdmin.Message}
		}
		return &member.Removed{UserID: userID, At: s.Clock.Now()}, nil
	})
	if err != nil && !redo {
		return err
	}
	if d, ok := s.Users.(DirectoryAdmin); ok {
		if err := d.RemoveUser(ctx, DirectoryUser{TenantID: string(tid), UserID: userID, Email: target.Email}); err != nil {
			return storeError("remove directory user", err)
		}
	}
	return err
}

// activeByEmail is the roster's active member with this (normalized) email, or nil.
func activeByEmail(r *member.Roster, email string) *member.Member {
	for _, mem := range r.Members() {
		if mem.Active && mem.Email == email {
			return mem
		}
	}
	return nil
}

// ChangePassword asks to replace the caller's password.
type ChangePassword struct {
	CurrentPassword string
	NewPassword     string
	ClientIP        string
}

// ChangePassword checks the caller's current password (throttled as a login
// is), stores the new one and revokes every session of the caller, this one
// included; the answer is the tokens of a new session. API keys cannot.
func (a *Auth) ChangePassword(ctx context.Context, m Meta, c ChangePassword, policy PasswordPolicy) (Tokens, error) {
	s := a.Service
	p := m.Principal
	if p.KeyID != "" || p.UserID == "" || p.TenantID == "" {
		return Tokens{}, domain.Errorf(domain.CodeForbidden, "only a user's token can change its password")
	}
	if c.CurrentPassword == "" || len(c.CurrentPassword) > maxPasswordBytes {
		return Tokens{}, domain.FieldError("current_password", "is required")
	}
	if c.NewPassword == "" {
		return Tokens{}, domain.FieldError("new_password", "is required")
	}
	if policy != nil {
		if err := policy(c.NewPassword); err != nil {
			var de *domain.Error
			if errors.As(err, &de) && de.Field == "password" {
				e := *de
				e.Field = "new_password"
				return Tokens{}, &e
			}
			return Tokens{}, err
		}
	}
	if s.Users != nil {
		return a.changeDirectoryPassword(ctx, m, c)
	}
	tid := events.TenantID(p.TenantID)
	r, err := s.roster(ctx, tid)
	if err != nil {
		return Tokens{}, err
	}
	mem, ok := r.Get(p.UserID)
	if !ok || !mem.Active {
		return Tokens{}, domain.Errorf(domain.CodeUnauthenticated, "the user no longer exists")
	}
	u, _, exists, err := s.userRecord(ctx, tid, mem.Email)
	if err != nil {
		return Tokens{}, err
	}
	if !exists || u.UserID != mem.UserID {
		return Tokens{}, domain.Errorf(domain.CodeUnauthenticated, "the user no longer exists")
	}
	done, refund := func(bool) {}, func() {}
	if a.Throttle != nil {
		if done, refund, err = a.Throttle.Begin("password:"+p.TenantID+"/"+p.UserID, c.ClientIP); err != nil {
			return Tokens{}, err
		}
	}
	hash := u.PasswordHash
	if mem.PasswordHash != "" {
		hash = mem.PasswordHash
	}
	ok, err = a.verify(ctx, c.CurrentPassword, hash)
	if NotChecked(err) {
		refund()
		return Tokens{}, err
	}
	if err != nil || !ok {
		done(false)
		return Tokens{}, domain.FieldError("current_password", "is wrong")
	}
	done(true)
	newHash, err := s.Passwords.Hash(c.NewPassword)
	if err != nil {
		return Tokens{}, err
	}
	r, err = s.appendRoster(ctx, m, tid, func(r *member.Roster) (any, error) {
		if mem, ok := r.Get(p.UserID); !ok || !mem.Active {
			return nil, domain.Errorf(domain.CodeUnauthenticated, "the user no longer exists")
		}
		return &member.PasswordChanged{UserID: p.UserID, PasswordHash: newHash, Reason: member.PasswordChange, At: s.Clock.Now()}, nil
	})
	if err != nil {
		return Tokens{}, err
	}
	mem, _ = r.Get(p.UserID)
	return a.startSession(ctx, tid, tenant.UserAdded{UserID: mem.UserID, Email: mem.Email}, mem.Roles, r.Version, c.ClientIP)
}

// changeDirectoryPassword is ChangePassword where a UserDirectory keeps the
// credentials (Cognito): the current password is checked by signing in with
// it (throttled as the local check is), the roster records the change, the
// directory sets the new password and signs the user out everywhere, and the
// answer is a sign-in with the new password. The token's user id is the
// directory's (Cognito's sub), so the member is found by the token's email.
func (a *Auth) changeDirectoryPassword(ctx context.Context, m Meta, c ChangePassword) (Tokens, error) {
	s := a.Service
	p := m.Principal
	dp, ok := s.Users.(DirectoryPasswords)
	if !ok || a.SignIn == nil {
		return Tokens{}, domain.Errorf(domain.CodeUnavailable, "password changes go to the user directory on this deployment")
	}
	email, err := tenant.NormalizeEmail(p.Email)
	if err != nil {
		return Tokens{}, domain.Errorf(domain.CodeForbidden, "a password change needs a token that names the user's email: the access token (its pre token generation trigger adds it) or the ID token")
	}
	tid := events.TenantID(p.TenantID)
	r, err := s.roster(ctx, tid)
	if err != nil {
		return Tokens{}, err
	}
	mem := activeByEmail(r, email)
	if mem == nil {
		return Tokens{}, domain.Errorf(domain.CodeUnauthenticated, "the user no longer exists")
	}
	done, refund := func(bool) {}, func() {}
	if a.Throttle != nil {
		if done, refund, err = a.Throttle.Begin("password:"+p.TenantID+"/"+mem.UserID, c.ClientIP); err != nil {
			return Tokens{}, err
		}
	}
	_, err = a.SignIn.SignIn(ctx, tid, mem.Email, c.CurrentPassword)
	switch {
	case errors.Is(err, ErrBadCredentials):
		done(false)
		return Tokens{}, domain.FieldError("current_password", "is wrong")
	case err != nil:
		// The directory's outage or its own rate limit: nothing was judged.
		refund()
		return Tokens{}, err
	}
	done(true)
	// The roster first, as for roles and removals: a change the directory then
	// fails is retried by the client with the same current password, which
	// still holds; a change the directory made is never missing from the log.
	// No hash: the directory keeps the password.
	if _, err := s.appendRoster(ctx, m, tid, func(r *member.Roster) (any, error) {
		if cur, ok := r.Get(mem.UserID); !ok || !cur.Active {
			return nil, domain.Errorf(domain.CodeUnauthenticated, "the user no longer exists")
		}
		return &member.PasswordChanged{UserID: mem.UserID, Reason: member.PasswordChange, At: s.Clock.Now()}, nil
	}); err != nil {
		return Tokens{}, err
	}
	u := DirectoryUser{TenantID: p.TenantID, UserID: mem.UserID, Email: mem.Email}
	if err := dp.SetPassword(ctx, u, c.NewPassword); err != nil {
		var de *domain.Error
		if errors.As(err, &de) && de.Field == "password" {
			e := *de
			e.Field = "new_password"
			return Tokens{}, &e
		}
		return Tokens{}, storeError("set directory password", err)
	}
	// The password is changed even if this fails: the client logs in anew.
	return a.SignIn.SignIn(ctx, tid, mem.Email, c.NewPassword)
}
