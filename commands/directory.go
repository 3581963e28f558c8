package commands

import (
	"context"
	"errors"

	"github.com/tenantstream/tenantstream/domain"
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
