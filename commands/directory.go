package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// UserDirectory keeps users' credentials outside the event store (Cognito on AWS).
// When Service.Users is set, Onboard and AddUser create the user there and the
// user.added event carries no password hash; logins then go to the directory.
type UserDirectory interface {
	// CreateUser creates the user with a permanent password and its role. A
	// directory may complete a user that a crashed attempt left (and return nil)
	// or return an error wrapping ErrUserExists, which a resumed onboarding and
	// AddUser (after checking the store) treat as done.
	CreateUser(ctx context.Context, u DirectoryUser) error
}

// DirectoryUser is a user as the directory needs it.
type DirectoryUser struct {
	TenantID string
	UserID   string
	Email    string // normalized
	Password string
	Role     string
}

// ErrUserExists is wrapped by UserDirectory.CreateUser for a user it already holds.
var ErrUserExists = errors.New("user already exists in the directory")

// TenantByName resolves a tenant name to its id, for logins that name the tenant.
// It follows the name's newest reservation (an expired, never-completed one may
// have been taken over); found is false for unknown names and for onboardings
// that never completed.
func (s *Service) TenantByName(ctx context.Context, name string) (id events.TenantID, found bool, err error) {
	if tenant.ValidateName(name) != nil {
		return "", false, nil
	}
	evs, err := s.Store.Load(ctx, projections.PlatformTenant, events.StreamID(tenant.NameStreamID(name)), 1)
	if errors.Is(err, events.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, storeError("load tenant name", err)
	}
	r, err := events.DecodeAs[tenant.NameReserved](schema.Registry, evs[len(evs)-1])
	if err != nil {
		return "", false, storeError("decode tenant name", err)
	}
	tid := events.TenantID(r.TenantID)
	if _, err := s.loadTenant(ctx, tid); err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return "", false, nil
		}
		return "", false, err
	}
	return tid, true, nil
}

// addDirectoryUser adds a user whose credentials a UserDirectory keeps. The
// directory call cannot be undone, so the email is claimed first, under the
// request's Idempotency-Key (docs/ARCHITECTURE.md, decision 13): a request
// refused for its key, or for an email another request is adding, never
// reaches the directory, and two requests never both set one user's password.
func (s *Service) addDirectoryUser(ctx context.Context, m Meta, tid events.TenantID, email, role, password string) (User, error) {
	claimStream := events.StreamID(tenant.UserClaimStreamID(email))
	if key := m.storeKey(); key != "" {
		rec, found, err := s.Store.Idempotency(ctx, tid, key)
		if err != nil {
			return User{}, storeError("read idempotency key", err)
		}
		switch {
		case !found:
		case rec.Matches(claimStream, m.Fingerprint):
			return s.resumeDirectoryUser(ctx, m, tid, email, password, rec.Result.Events[0])
		case rec.Matches(events.StreamID(tenant.UserStreamID(email)), m.Fingerprint):
			return s.retriedUser(ctx, m, tid, rec.Result, password, member.SourceAdmin) // added before claims existed
		default:
			return User{}, errKeyReused
		}
	}
	if _, found, err := s.findUser(ctx, tid, email); err != nil {
		return User{}, err
	} else if found {
		return User{}, errUserExists
	}
	verifier, err := s.Passwords.Hash(password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	mine := &tenant.UserClaimed{UserID: uuid.Must(uuid.NewV7()).String(), Role: role, PasswordHash: verifier, At: s.Clock.Now()}
	for range 5 {
		expected := events.NoStream
		if last, found, err := s.lastUserClaim(ctx, tid, email); err != nil {
			return User{}, err
		} else if found {
			if _, added, err := s.findUser(ctx, tid, email); err != nil {
				return User{}, err
			} else if added {
				return User{}, errUserExists
			}
			c, err := events.DecodeAs[tenant.UserClaimed](schema.Registry, last)
			if err != nil {
				return User{}, storeError("decode user claim", err)
			}
			// The same request again (its role and password): resume the claim,
			// as its keyed retry would; both attempts set the same password.
			if c.Role == role {
				if ok, err := s.Passwords.Verify(password, c.PasswordHash); err != nil {
					return User{}, fmt.Errorf("verify user claim: %w", err)
				} else if ok {
					return s.resumeDirectoryUser(ctx, m, tid, email, password, last)
				}
			}
			// Another request takes the email over only once no call of the
			// claim's can still reach the directory (docs/ARCHITECTURE.md, decision 13).
			if s.Clock.Now().Sub(c.At) < DirectoryClaimExpiry {
				return User{}, errUserBeingAdded
			}
			expected = events.Exactly(last.Version) // abandoned long ago: take it over
		}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: claimStream, StreamType: tenant.UserClaimStreamType, Expected: expected,
			IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID,
			Actor: m.Principal.UserID, Events: []events.NewEvent{newEvent(mine)},
		})
		switch {
		case errors.Is(err, events.ErrConcurrency):
			continue // claimed meanwhile: decide again
		case err != nil:
			return User{}, storeError("claim user email", err)
		case res.Duplicate:
			// A concurrent attempt of this very request claimed it first.
			return s.resumeDirectoryUser(ctx, m, tid, email, password, res.Events[0])
		}
		return s.createDirectoryUser(ctx, m, tid, email, res.Events[0].ID, *mine, password)
	}
	return User{}, &domain.Error{Code: domain.CodeConflict, Field: "email", Message: "the user was changed concurrently; retry"}
}

// DirectoryClaimExpiry is how old an email's claim must be before another
// request (another password) may take it over. The directory call cannot be
// fenced, so a takeover must wait until no call of the claim's can still be
// running: far longer than any SDK call with its retries. Retries of the same
// request (same password) resume it after ClaimLease; they set the same password.
const DirectoryClaimExpiry = 24 * time.Hour

// errUserBeingAdded answers an AddUser of an email another request is adding.
var errUserBeingAdded = &domain.Error{Code: domain.CodeConflict, Field: "email",
	Message: "a user with this email is being added by another request; retry shortly",
	Err:     &retryLater{err: errors.New("email claimed"), after: time.Second}}

// resumeDirectoryUser answers the retry of a keyed AddUser that claimed its
// email: with the user, once added; by adding it, if the claim was abandoned.
// The retry's password must be the claim's.
func (s *Service) resumeDirectoryUser(ctx context.Context, m Meta, tid events.TenantID, email, password string, claim events.Event) (User, error) {
	c, err := events.DecodeAs[tenant.UserClaimed](schema.Registry, claim)
	if err != nil {
		return User{}, storeError("decode user claim", err)
	}
	if err := s.samePassword(password, c.PasswordHash); err != nil {
		return User{}, err
	}
	var added tenant.UserAdded
	takeover, err := s.awaitClaim(ctx, c.At, func() (bool, error) {
		u, found, err := s.findUser(ctx, tid, email)
		added = u
		return found, err
	})
	switch {
	case err != nil:
		return User{}, err
	case takeover:
		return s.createDirectoryUser(ctx, m, tid, email, claim.ID, c, password)
	case added.UserID != c.UserID:
		return User{}, errUserExists // another request took the abandoned claim over
	}
	return directoryUser(tid, added), nil
}

// createDirectoryUser creates the claimed user in the directory and appends its
// user.added, while the claim (event claimID) is still the email's newest.
func (s *Service) createDirectoryUser(ctx context.Context, m Meta, tid events.TenantID, email, claimID string, c tenant.UserClaimed, password string) (User, error) {
	return s.createClaimedUser(ctx, m, tid, email, claimID, c, password, member.Added{Source: member.SourceAdmin})
}

// createClaimedUser is createDirectoryUser with the roster entry's source,
// email verification and (when set) roles taken from as: an invitation's
// accept step verifies the email and may grant more than the claim's one role.
func (s *Service) createClaimedUser(ctx context.Context, m Meta, tid events.TenantID, email, claimID string, c tenant.UserClaimed, password string, as member.Added) (User, error) {
	if last, found, err := s.lastUserClaim(ctx, tid, email); err != nil {
		return User{}, err
	} else if !found || last.ID != claimID {
		return User{}, errUserBeingAdded // taken over by another request
	}
	// A user the directory already holds was left by this claim's crashed attempt.
	if _, err := s.credentials(ctx, DirectoryUser{TenantID: string(tid), UserID: c.UserID, Email: email, Password: password, Role: c.Role}, true); err != nil {
		return User{}, err
	}
	roles := []string{c.Role}
	if len(as.Roles) > 0 {
		roles = slices.Clone(as.Roles)
	}
	ev := &tenant.UserAdded{UserID: c.UserID, Email: email, Roles: roles, At: s.Clock.Now()}
	// The email's stream exists when a removed member had it: the new user takes it over.
	expected, err := s.freeEmail(ctx, tid, email)
	if err == nil {
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(tenant.UserStreamID(email)), StreamType: tenant.UserStreamType,
			Expected: expected, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
			Events: []events.NewEvent{newEvent(ev)},
		})
	}
	if errors.Is(err, events.ErrConcurrency) || errors.Is(err, errUserExists) {
		// A concurrent resume of this claim may have added it.
		u, found, ferr := s.findUser(ctx, tid, email)
		if ferr != nil {
			return User{}, ferr
		}
		if found && u.UserID == c.UserID {
			return directoryUser(tid, u), nil
		}
		return User{}, errUserExists
	}
	if err != nil {
		return User{}, storeError("add user", err)
	}
	if _, err := s.ensureMember(ctx, m, tid, member.Added{UserID: ev.UserID, Email: email, Roles: ev.Roles, Source: as.Source, EmailVerified: as.EmailVerified, At: ev.At}); err != nil {
		return User{}, err
	}
	return directoryUser(tid, *ev), nil
}

// lastUserClaim is the newest claim of an email, if any.
func (s *Service) lastUserClaim(ctx context.Context, tid events.TenantID, email string) (events.Event, bool, error) {
	evs, err := s.Store.Load(ctx, tid, events.StreamID(tenant.UserClaimStreamID(email)), 1)
	if errors.Is(err, events.ErrNotFound) {
		return events.Event{}, false, nil
	}
	if err != nil {
		return events.Event{}, false, storeError("load user claim", err)
	}
	return evs[len(evs)-1], true, nil
}

func directoryUser(tid events.TenantID, u tenant.UserAdded) User {
	return User{UserID: u.UserID, TenantID: string(tid), Email: u.Email, Roles: slices.Clone(u.Roles)}
}
