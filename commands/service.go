package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// Service runs commands and queries. Its fields are the ports it needs; cmd wires
// the local (SQLite) or AWS adapters into them.
type Service struct {
	Store     events.Store
	Reader    projections.Reader // read models; may lag the store by the projection lag
	Clock     clock.Clock
	Plans     PlanCatalog
	Passwords PasswordHasher
	// Users, when set, holds credentials instead of the event store (Cognito);
	// nil keeps password hashes in user.added events, as locally.
	Users UserDirectory
	// UsageWindow is how far back reported usage may be dated (default 35 days,
	// as Stripe accepts). Usage of a closed period within it is billed as an
	// adjustment on the next invoice; older usage is rejected. Never shrink it
	// below a value already used, or late usage recorded under the old window
	// could be missed by the next close.
	UsageWindow time.Duration
	// Meter counts item writes for billing; nil meters nothing.
	Meter *Meter
	Log   *slog.Logger

	itemsOnce sync.Once
	items     *itemCache
}

// itemCache returns the service's item state cache, made on first use.
func (s *Service) itemCache() *itemCache {
	s.itemsOnce.Do(func() { s.items = newItemCache(defaultItemCacheBytes) })
	return s.items
}

// PlanCatalog answers which plans exist (the billing catalogue implements it).
type PlanCatalog interface {
	HasPlan(id string) bool
	DefaultPlan() string
}

// PasswordHasher hashes and checks passwords with a memory-hard function.
type PasswordHasher interface {
	Hash(password string) (string, error)
	Verify(password, encoded string) (bool, error)
}

// Meta is what every command carries besides its arguments.
type Meta struct {
	Principal      identity.Principal
	IdempotencyKey string
	CorrelationID  string
}

// authorizeTenant checks that the principal may act on the tenant named in the
// path and returns the tenant id to build storage keys from: always the
// principal's own (DESIGN decision 9b, 9c), except for audited platform admins.
func (s *Service) authorizeTenant(ctx context.Context, m Meta, pathTenant string) (events.TenantID, error) {
	p := m.Principal
	if p.TenantID == "" && !p.Has(identity.RolePlatformAdmin) {
		return "", domain.Errorf(domain.CodeUnauthenticated, "no authenticated tenant")
	}
	if !p.CanAccessTenant(pathTenant) {
		return "", domain.Errorf(domain.CodeForbidden, "this token is not valid for tenant %q", pathTenant)
	}
	if p.TenantID == pathTenant {
		return events.TenantID(p.TenantID), nil
	}
	s.logger().InfoContext(ctx, "platform admin crossed tenant", "admin", p.UserID, "tenant", pathTenant)
	t := events.TenantID(pathTenant)
	if err := t.Validate(); err != nil {
		return "", domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	return t, nil
}

func (s *Service) requireRole(m Meta, role string) error {
	if m.Principal.Has(role) || m.Principal.Has(identity.RolePlatformAdmin) {
		return nil
	}
	return domain.Errorf(domain.CodeForbidden, "this action needs the %s role", role)
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// newEvent encodes a domain payload through the schema registry.
func newEvent(payload any) events.NewEvent {
	ne, err := schema.Registry.New(payload)
	if err != nil {
		// Only an unregistered Go type gets here: a programming error caught by tests.
		panic(fmt.Sprintf("commands: %v", err))
	}
	return ne
}

// storeError turns store errors into client-facing ones.
func storeError(op string, err error) error {
	var de *domain.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return err
	case errors.Is(err, events.ErrConcurrency):
		return &domain.Error{Code: domain.CodeConflict, Message: "the resource was changed concurrently; retry", Err: err}
	case errors.Is(err, events.ErrTooLarge):
		return &domain.Error{Code: domain.CodeTooLarge, Message: "the request is too large", Err: err}
	case errors.Is(err, events.ErrIdempotencyKeyReuse):
		return &domain.Error{Code: domain.CodeUnprocessable, Message: "the Idempotency-Key was already used for a different request", Err: err}
	case errors.Is(err, events.ErrInvalid):
		return &domain.Error{Code: domain.CodeInvalid, Message: "invalid request", Err: err}
	case errors.Is(err, events.ErrClosed):
		return &domain.Error{Code: domain.CodeUnavailable, Message: "the server is shutting down", Err: err}
	case errors.Is(err, events.ErrUnavailable):
		return &domain.Error{Code: domain.CodeUnavailable, Message: "the store cannot take writes right now; retry later", Err: &retryLater{err: err, after: StoreRetryAfter}}
	}
	return fmt.Errorf("%s: %w", op, err)
}
