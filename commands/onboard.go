package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// Onboard creates a tenant and its first (admin) user.
type Onboard struct {
	TenantName string
	Email      string
	Password   string
	Plan       string
}

// Onboarded is the result of onboarding.
type Onboarded struct {
	TenantID    string `json:"tenant_id"`
	TenantName  string `json:"tenant_name"`
	AdminUserID string `json:"admin_user_id"`
	Plan        string `json:"plan"`
}

// PasswordPolicy validates a new password; the identity package implements it.
type PasswordPolicy func(password string) error

// Onboard registers a tenant in three appends, each idempotent, so a retry after
// a crash at any point completes the onboarding instead of leaving the tenant
// half made (the gap AWS's SaaS Builder Toolkit is known for):
//  1. reserve the name platform-wide (stream name-<name>, expected "no stream");
//  2. add the admin user (stream user-<email hash>, expected "no stream");
//  3. append tenant.onboarded (stream tenant, expected "no stream").
//
// A retry with the same Idempotency-Key, or without one by the same email while
// step 3 is missing, resumes; anyone else gets 409 for a taken name.
func (s *Service) Onboard(ctx context.Context, m Meta, c Onboard, policy PasswordPolicy) (Onboarded, error) {
	if err := tenant.ValidateName(c.TenantName); err != nil {
		return Onboarded{}, err
	}
	email, err := tenant.NormalizeEmail(c.Email)
	if err != nil {
		return Onboarded{}, err
	}
	if policy != nil {
		if err := policy(c.Password); err != nil {
			return Onboarded{}, err
		}
	}
	plan := c.Plan
	if plan == "" {
		plan = s.Plans.DefaultPlan()
	}
	if !s.Plans.HasPlan(plan) {
		return Onboarded{}, domain.FieldError("plan", "unknown plan %q", plan)
	}

	tenantID, userID := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	// The client's key names the first step (the name reservation, in the
	// platform's keys: onboarding has no tenant yet); the later steps, in the new
	// tenant, carry keys derived from it in the internal namespace, so that no
	// key a client sends later to that tenant can name them.
	key := func(step string) string {
		if step == "name" {
			return m.storeKey()
		}
		return m.internalKey("onboard:" + step)
	}
	nameStream := events.StreamID(tenant.NameStreamID(c.TenantName))
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: projections.PlatformTenant, Stream: nameStream, StreamType: tenant.NameStreamType,
		Expected: events.NoStream, IdempotencyKey: key("name"), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID,
		Events: []events.NewEvent{newEvent(&tenant.NameReserved{Name: c.TenantName, TenantID: tenantID, AdminEmail: email, UserID: userID, Plan: plan})},
	})
	resuming := false
	switch {
	case errors.Is(err, events.ErrConcurrency):
		r, ok, lerr := s.pendingReservation(ctx, nameStream, email)
		if lerr != nil {
			return Onboarded{}, lerr
		}
		if !ok {
			return Onboarded{}, &domain.Error{Code: domain.CodeConflict, Field: "tenant_name", Message: fmt.Sprintf("tenant name %q is taken", c.TenantName)}
		}
		tenantID, userID, plan, resuming = r.TenantID, r.UserID, r.Plan, true
	case err != nil:
		return Onboarded{}, storeError("reserve tenant name", err)
	case res.Duplicate:
		r, derr := events.DecodeAs[tenant.NameReserved](schema.Registry, res.Events[0])
		if derr != nil {
			return Onboarded{}, storeError("decode reservation", derr)
		}
		tenantID, userID, plan, resuming = r.TenantID, r.UserID, r.Plan, true
	}
	out := Onboarded{TenantID: tenantID, TenantName: c.TenantName, AdminUserID: userID, Plan: plan}

	now := s.Clock.Now()
	tid := events.TenantID(tenantID)
	hash, err := s.credentials(ctx, DirectoryUser{TenantID: tenantID, UserID: userID, Email: email, Password: c.Password, Role: identity.RoleTenantAdmin}, resuming)
	if err != nil {
		return Onboarded{}, err
	}
	_, err = s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: events.StreamID(tenant.UserStreamID(email)), StreamType: tenant.UserStreamType,
		Expected: events.NoStream, IdempotencyKey: key("user"), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: userID,
		Events: []events.NewEvent{newEvent(&tenant.UserAdded{UserID: userID, Email: email, PasswordHash: hash, Roles: []string{identity.RoleTenantAdmin}, At: now})},
	})
	if err != nil && !(resuming && errors.Is(err, events.ErrConcurrency)) {
		return Onboarded{}, storeError("add admin user", err)
	}
	_, err = s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: tenant.StreamID, StreamType: tenant.StreamType,
		Expected: events.NoStream, IdempotencyKey: key("tenant"), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: userID,
		Events: []events.NewEvent{newEvent(&tenant.Onboarded{TenantID: tenantID, Name: c.TenantName, Plan: plan, AdminUserID: userID, AdminEmail: email, At: now})},
	})
	if err != nil && !(resuming && errors.Is(err, events.ErrConcurrency) && m.IdempotencyKey != "") {
		if errors.Is(err, events.ErrConcurrency) {
			return Onboarded{}, &domain.Error{Code: domain.CodeConflict, Field: "tenant_name", Message: fmt.Sprintf("tenant name %q is taken", c.TenantName)}
		}
		return Onboarded{}, storeError("onboard tenant", err)
	}
	return out, nil
}

// pendingReservation returns the name reservation when it was made for this email
// and its onboarding never completed, so the same person can finish it.
func (s *Service) pendingReservation(ctx context.Context, nameStream events.StreamID, email string) (tenant.NameReserved, bool, error) {
	evs, err := s.Store.Load(ctx, projections.PlatformTenant, nameStream, 1)
	if err != nil || len(evs) == 0 {
		return tenant.NameReserved{}, false, storeError("load reservation", err)
	}
	r, err := events.DecodeAs[tenant.NameReserved](schema.Registry, evs[0])
	if err != nil {
		return tenant.NameReserved{}, false, storeError("decode reservation", err)
	}
	if r.AdminEmail != email {
		return r, false, nil
	}
	_, err = s.Store.Load(ctx, events.TenantID(r.TenantID), tenant.StreamID, 1)
	if errors.Is(err, events.ErrNotFound) {
		return r, true, nil
	}
	return r, false, storeError("load tenant", err)
}

// credentials stores the user's password: in the directory when there is one
// (returning no hash), else as a hash for the user.added event. existingOK lets a
// resumed onboarding find the user its first attempt created.
func (s *Service) credentials(ctx context.Context, u DirectoryUser, existingOK bool) (string, error) {
	if s.Users == nil {
		hash, err := s.Passwords.Hash(u.Password)
		if err != nil {
			return "", fmt.Errorf("hash password: %w", err)
		}
		return hash, nil
	}
	err := s.Users.CreateUser(ctx, u)
	if err == nil || (existingOK && errors.Is(err, ErrUserExists)) {
		return "", nil
	}
	return "", fmt.Errorf("create user in directory: %w", err)
}
