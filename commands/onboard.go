package commands

import (
	"context"
	"errors"
	"fmt"
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
//  1. reserve the name platform-wide (stream name-<name>, expected "no stream"),
//     recording an argon2id verifier of the admin's password;
//  2. add the admin user (stream user-<email hash>, expected "no stream");
//  3. append tenant.onboarded (stream tenant, expected "no stream").
//
// While step 3 is missing, only a retry of the same request resumes: the same
// Idempotency-Key, or the same email with a password that verifies against the
// reservation's verifier. Knowing the name and the email is not enough, so a
// stranger cannot finish someone else's onboarding with their own password.
// Anyone else gets 409 for a taken name, until the reservation is older than
// ReservationTTL: then a new onboarding takes the name over (see claimName).
// A completed onboarding's name never expires.
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
	// Plans come from the price book (docs/ARCHITECTURE.md, decision 14).
	book, plans, err := s.planCatalog(ctx)
	if err != nil {
		return Onboarded{}, err
	}
	plan := c.Plan
	if plan == "" {
		plan = plans.DefaultPlan()
	}
	if !plans.HasPlan(plan) {
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
	now := s.Clock.Now()
	// The verifier doubles as the user.added hash when the store keeps passwords,
	// so a fresh onboarding still hashes once.
	if s.Passwords == nil {
		return Onboarded{}, errors.New("onboard: the service has no password hasher (the reservation's verifier needs one, even with a UserDirectory)")
	}
	verifier, err := s.Passwords.Hash(c.Password)
	if err != nil {
		return Onboarded{}, fmt.Errorf("hash password: %w", err)
	}
	reservation := &tenant.NameReserved{Name: c.TenantName, TenantID: tenantID, AdminEmail: email, UserID: userID, Plan: plan, PasswordVerifier: verifier, At: now}
	nameStream := events.StreamID(tenant.NameStreamID(c.TenantName))
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: projections.PlatformTenant, Stream: nameStream, StreamType: tenant.NameStreamType,
		Expected: events.NoStream, IdempotencyKey: key("name"), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID,
		Events: []events.NewEvent{newEvent(reservation)},
	})
	resuming := false
	switch {
	case errors.Is(err, events.ErrConcurrency):
		r, resume, cerr := s.claimName(ctx, m, nameStream, reservation, c.Password, key("name"))
		if cerr != nil {
			return Onboarded{}, cerr
		}
		tenantID, userID, plan, resuming = r.TenantID, r.UserID, r.Plan, resume
	case err != nil:
		return Onboarded{}, storeError("reserve tenant name", err)
	case res.Duplicate:
		r, derr := events.DecodeAs[tenant.NameReserved](schema.Registry, res.Events[0])
		if derr != nil {
			return Onboarded{}, storeError("decode reservation", derr)
		}
		// The fingerprint leaves the password out (it must not be stored as a
		// fast hash); the reservation's verifier checks it instead, so the key
		// alone never completes an onboarding with another password.
		if err := s.samePassword(c.Password, r.PasswordVerifier); err != nil {
			return Onboarded{}, err
		}
		tenantID, userID, plan, resuming = r.TenantID, r.UserID, r.Plan, true
	}
	out := Onboarded{TenantID: tenantID, TenantName: c.TenantName, AdminUserID: userID, Plan: plan}
	// The tenant subscribes to the plan's latest version; a resumed onboarding
	// whose plan was withdrawn meanwhile takes the plan's last version.
	planVersion := book.Versions(plan)
	if v, err := book.LatestVersion(plan); err == nil {
		planVersion = v
	}

	tid := events.TenantID(tenantID)
	hash := verifier
	if s.Users != nil {
		if hash, err = s.credentials(ctx, DirectoryUser{TenantID: tenantID, UserID: userID, Email: email, Password: c.Password, Role: identity.RoleTenantAdmin}, resuming); err != nil {
			return Onboarded{}, err
		}
	}
	_, err = s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: events.StreamID(tenant.UserStreamID(email)), StreamType: tenant.UserStreamType,
		Expected: events.NoStream, IdempotencyKey: key("user"), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: userID,
		Events: []events.NewEvent{newEvent(&tenant.UserAdded{UserID: userID, Email: email, PasswordHash: hash, Roles: []string{identity.RoleTenantAdmin}, At: now})},
	})
	if err != nil && !(resuming && errors.Is(err, events.ErrConcurrency)) {
		return Onboarded{}, storeError("add admin user", err)
	}
	admin := m
	admin.Principal = identity.Principal{TenantID: tenantID, UserID: userID}
	first := member.Added{UserID: userID, Email: email, Roles: []string{identity.RoleTenantAdmin}, Source: member.SourceOnboarding, At: now}
	// The roster starts with the admin; reading it first would import the
	// admin from the user.added above instead (a resumed onboarding does).
	_, err = s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: member.RosterStreamID, StreamType: member.RosterStreamType,
		Expected: events.NoStream, CorrelationID: m.CorrelationID, Actor: userID,
		Events: []events.NewEvent{newEvent(&first)},
	})
	if errors.Is(err, events.ErrConcurrency) {
		_, err = s.ensureMember(ctx, admin, tid, first)
	}
	if err != nil {
		return Onboarded{}, storeError("start roster", err)
	}
	_, err = s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: tenant.StreamID, StreamType: tenant.StreamType,
		Expected: events.NoStream, IdempotencyKey: key("tenant"), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: userID,
		Events: []events.NewEvent{newEvent(&tenant.Onboarded{TenantID: tenantID, Name: c.TenantName, Plan: plan, PlanVersion: planVersion, AdminUserID: userID, AdminEmail: email, At: now})},
	})
	if resuming && errors.Is(err, events.ErrConcurrency) {
		// The profile stream exists: this onboarding was completed (by an earlier
		// attempt of the same request, which only a verified retry can resume), or
		// it expired and was taken over while we resumed it.
		st, lerr := s.profileState(ctx, tid)
		if lerr != nil {
			return Onboarded{}, lerr
		}
		if st == claimOnboarded {
			return out, nil
		}
	}
	if err != nil {
		if errors.Is(err, events.ErrConcurrency) {
			return Onboarded{}, nameTaken(c.TenantName)
		}
		return Onboarded{}, storeError("onboard tenant", err)
	}
	return out, nil
}

func nameTaken(name string) error {
	return &domain.Error{Code: domain.CodeConflict, Field: "tenant_name", Message: fmt.Sprintf("tenant name %q is taken", name)}
}

// DefaultReservationTTL is how long a name reservation whose onboarding never
// completed holds the name (Service.ReservationTTL).
const DefaultReservationTTL = 24 * time.Hour

func (s *Service) reservationTTL() time.Duration {
	if s.ReservationTTL > 0 {
		return s.ReservationTTL
	}
	return DefaultReservationTTL
}

// claimState is how the onboarding of a name's newest reservation stands, as its
// tenant's profile stream says.
type claimState int

const (
	claimPending   claimState = iota // no profile stream: steps 2-3 may still come
	claimOnboarded                   // tenant.onboarded: the name is the tenant's for good
	claimAbandoned                   // tenant.reservation_expired: taken over, never onboarded
)

// nameClaim is a name's newest reservation.
type nameClaim struct {
	r       tenant.NameReserved
	version int64     // its version in the name stream
	at      time.Time // when it was made
	state   claimState
}

// loadClaim returns the newest reservation of the name stream; found is false if
// the name was never reserved.
func (s *Service) loadClaim(ctx context.Context, nameStream events.StreamID) (c nameClaim, found bool, err error) {
	evs, err := s.Store.Load(ctx, projections.PlatformTenant, nameStream, 1)
	if errors.Is(err, events.ErrNotFound) {
		return nameClaim{}, false, nil
	}
	if err != nil || len(evs) == 0 {
		return nameClaim{}, false, storeError("load reservation", err)
	}
	last := evs[len(evs)-1]
	r, err := events.DecodeAs[tenant.NameReserved](schema.Registry, last)
	if err != nil {
		return nameClaim{}, false, storeError("decode reservation", err)
	}
	c = nameClaim{r: r, version: last.Version, at: r.At}
	if c.at.IsZero() {
		c.at = last.OccurredAt // reservations made before they recorded their time
	}
	if c.state, err = s.profileState(ctx, events.TenantID(r.TenantID)); err != nil {
		return nameClaim{}, false, err
	}
	return c, true, nil
}

// profileState reads how a tenant's onboarding stands from the first event of its
// profile stream.
func (s *Service) profileState(ctx context.Context, tid events.TenantID) (claimState, error) {
	evs, err := s.Store.Load(ctx, tid, tenant.StreamID, 1)
	switch {
	case errors.Is(err, events.ErrNotFound):
		return claimPending, nil
	case err != nil:
		return 0, storeError("load tenant", err)
	case len(evs) > 0 && evs[0].Type == tenant.TypeReservationExpired:
		return claimAbandoned, nil
	}
	return claimOnboarded, nil
}

// claimName decides an onboarding whose name reservation (mine) found the name
// already reserved. It returns the reservation to go on with and whether that is
// an earlier one being resumed:
//   - the newest reservation's tenant was onboarded: 409, whatever its age;
//   - it is pending for the same email and the password verifies against its
//     verifier: resume it (a retry of the same request, whatever its age);
//   - it is pending and older than ReservationTTL, or was abandoned: take the
//     name over with mine, appended at the exact version seen, so of racing
//     takeovers exactly one wins and the others decide again;
//   - else 409. A reservation without a verifier (made before they existed)
//     resumes only with its Idempotency-Key, which never reaches here.
func (s *Service) claimName(ctx context.Context, m Meta, nameStream events.StreamID, mine *tenant.NameReserved, password, idemKey string) (tenant.NameReserved, bool, error) {
	for attempt := 0; ; attempt++ {
		c, found, err := s.loadClaim(ctx, nameStream)
		if err != nil {
			return tenant.NameReserved{}, false, err
		}
		if !found || attempt >= 5 {
			// The name stream vanished (it cannot) or keeps changing under us.
			return tenant.NameReserved{}, false, &domain.Error{Code: domain.CodeConflict, Message: "the tenant name was changed concurrently; retry"}
		}
		if c.state == claimOnboarded {
			return tenant.NameReserved{}, false, nameTaken(mine.Name)
		}
		if c.state == claimPending && c.r.AdminEmail == mine.AdminEmail && c.r.PasswordVerifier != "" {
			ok, verr := s.Passwords.Verify(password, c.r.PasswordVerifier)
			if verr != nil {
				return tenant.NameReserved{}, false, fmt.Errorf("verify reservation password: %w", verr)
			}
			if ok {
				return c.r, true, nil
			}
		}
		if c.state == claimPending && s.Clock.Now().Sub(c.at) < s.reservationTTL() {
			return tenant.NameReserved{}, false, nameTaken(mine.Name)
		}
		if c.state == claimPending {
			// Abandon the expired onboarding first: once its profile stream starts
			// with tenant.reservation_expired its tenant.onboarded can never be
			// appended, so a resume racing this takeover cannot also win.
			_, err := s.Store.Append(ctx, events.AppendRequest{
				Tenant: events.TenantID(c.r.TenantID), Stream: tenant.StreamID, StreamType: tenant.StreamType,
				Expected: events.NoStream, CorrelationID: m.CorrelationID,
				Events: []events.NewEvent{newEvent(&tenant.ReservationExpired{Name: c.r.Name, At: s.Clock.Now()})},
			})
			if errors.Is(err, events.ErrConcurrency) {
				continue // completed or abandoned meanwhile: decide again
			}
			if err != nil {
				return tenant.NameReserved{}, false, storeError("expire reservation", err)
			}
		}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: projections.PlatformTenant, Stream: nameStream, StreamType: tenant.NameStreamType,
			Expected: events.Exactly(c.version), IdempotencyKey: idemKey, Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID,
			Events: []events.NewEvent{newEvent(mine)},
		})
		switch {
		case errors.Is(err, events.ErrConcurrency):
			continue // another takeover won: decide again against it
		case err != nil:
			return tenant.NameReserved{}, false, storeError("take over tenant name", err)
		case res.Duplicate:
			// A concurrent attempt with the same Idempotency-Key took it over.
			r, derr := events.DecodeAs[tenant.NameReserved](schema.Registry, res.Events[0])
			if derr != nil {
				return tenant.NameReserved{}, false, storeError("decode reservation", derr)
			}
			if err := s.samePassword(password, r.PasswordVerifier); err != nil {
				return tenant.NameReserved{}, false, err
			}
			return r, true, nil
		}
		return *mine, false, nil
	}
}

// samePassword checks a keyed retry's password against the first attempt's
// stored hash (none stored: nothing to check). Another password is another
// request: the key's 422.
func (s *Service) samePassword(password, hash string) error {
	if hash == "" {
		return nil
	}
	ok, err := s.Passwords.Verify(password, hash)
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		return errKeyReused
	}
	return nil
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
