package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/commands/cursorseal"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/events/shred"
	"github.com/tenantstream/tenantstream/projections"
)

// Service runs commands and queries. Its fields are the ports it needs; cmd wires
// the local (SQLite) or AWS adapters into them.
type Service struct {
	Store  events.Store
	Reader projections.Reader // read models; may lag the store by the projection lag
	Clock  clock.Clock
	// Plans is the catalogue configured at start. Plans, prices and versions
	// come from the price book in the store (docs/ARCHITECTURE.md, decision
	// 14); this catalogue is only published into an empty book on first use.
	Plans     PlanCatalog
	Passwords PasswordHasher // required by Onboard, even with Users set
	// Users, when set, holds credentials instead of the event store (Cognito);
	// nil keeps password hashes in user.added events, as locally.
	Users UserDirectory
	// UsageWindow is how far back reported usage may be dated (0: UsageMaxAge, the window
	// Stripe accepts). Usage of a closed period within it is billed as an
	// adjustment on the next invoice; older usage is rejected. Never shrink it
	// below a value already used, or late usage recorded under the old window
	// could be missed by the next close.
	UsageWindow time.Duration
	// ReservationTTL is how long the name reservation of an onboarding that never
	// completed holds the name (default DefaultReservationTTL, 24 hours); after it
	// a new onboarding may take the name over. Completed onboardings never expire.
	ReservationTTL time.Duration
	// InvitationTTL is how long an invitation can be accepted (default
	// DefaultInvitationTTL, 7 days).
	InvitationTTL time.Duration
	// ResetAnswerTime is the least time a password-reset request takes to
	// answer, whether or not the account exists (default
	// DefaultResetAnswerTime), so its timing does not tell; negative: none.
	ResetAnswerTime time.Duration
	// Meter counts item writes for billing; nil meters nothing.
	Meter *Meter
	// Billing is the billing whose period folds the entitlement checks read
	// (entitlements.go), so one cache serves both; nil: one of the Service's own.
	Billing *Billing
	Log     *slog.Logger
	// Cursors seals the event-log cursors the API hands out, so they are opaque
	// and bound to the tenant (docs/ARCHITECTURE.md, "API cursors"). nil uses a
	// random key of this process: still opaque, but not valid after a restart
	// or on another instance, so cmd wires a persistent key.
	Cursors *cursorseal.Sealer
	// Eraser erases an offboarding tenant's data (OffboardTenant with erase);
	// nil: erasure is not available and such a request changes nothing.
	Eraser TenantEraser

	itemsOnce sync.Once
	items     *itemCache

	cursorsOnce sync.Once

	keyUseOnce sync.Once
	keyUse     *keyUse // last use of each API key (ListAPIKeys)

	keyCacheOnce sync.Once
	keyCache     *keyCache // key ids' tenants and tenants' folded keys (VerifyAPIKey)

	rosterOnce  sync.Once
	rosterCache *rosterCache // folded rosters (roster)

	stateOnce  sync.Once
	stateCache *stateCache // folded tenant profiles (tenantState)

	bookMu sync.Mutex
	book   *billing.Book // the cached price book (readBook)

	billingOnce sync.Once
	gatesOnce   sync.Once
	gates       *entGates // per-tenant entitlement state (entitlements.go)
}

// cursors returns the sealer of the event-log cursors.
func (s *Service) cursors() *cursorseal.Sealer {
	s.cursorsOnce.Do(func() {
		if s.Cursors == nil {
			s.Cursors = cursorseal.Ephemeral()
		}
	})
	return s.Cursors
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
	Principal identity.Principal
	// IdempotencyKey is the client's Idempotency-Key; Fingerprint is a hash of
	// what the request means (the HTTP layer's RequestFingerprint), stored with
	// the key so the key cannot be replayed for another request.
	IdempotencyKey string
	Fingerprint    string
	CorrelationID  string
}

// storeKey is the store's idempotency key for the client's key. Client keys and
// the keys commands derive for their own steps (internalKey) live in separate
// namespaces, so no client key can name a step of another command.
func (m Meta) storeKey() string {
	if m.IdempotencyKey == "" {
		return ""
	}
	return "c:" + m.IdempotencyKey
}

// internalKey is the store key of one step of a multi-append command, derived
// from the client's key ("" without one).
func (m Meta) internalKey(step string) string {
	if m.IdempotencyKey == "" {
		return ""
	}
	return "i:" + step + ":" + m.IdempotencyKey
}

// errKeyReused answers a key used before for another request (Stripe's 422).
var errKeyReused = &domain.Error{Code: domain.CodeUnprocessable, Field: "Idempotency-Key",
	Message: "this Idempotency-Key was already used for a different request; use a new key for each request"}

// firstResult answers the retry of a request: what the request's idempotency key
// wrote the first time, if the store still remembers the key. The key must have
// been used for this stream with this fingerprint, else the answer is a 422.
// Commands ask before they check preconditions, so that the retry of a write
// that succeeded gets the first answer, not a failed precondition.
func (s *Service) firstResult(ctx context.Context, m Meta, tenant events.TenantID, stream events.StreamID) (events.AppendResult, bool, error) {
	key := m.storeKey()
	if key == "" {
		return events.AppendResult{}, false, nil
	}
	rec, found, err := s.Store.Idempotency(ctx, tenant, key)
	if err != nil {
		return events.AppendResult{}, false, storeError("read idempotency key", err)
	}
	if !found {
		return events.AppendResult{}, false, nil
	}
	if !rec.Matches(stream, m.Fingerprint) {
		return events.AppendResult{}, false, errKeyReused
	}
	return rec.Result, true, nil
}

// authorizeTenant checks that the principal may act on the tenant named in the
// path and returns the tenant id to build storage keys from: always the
// principal's own (docs/ARCHITECTURE.md, decision 9b, 9c), except for audited platform admins.
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

// requireRole checks that the principal holds role in the tenant now: its
// token says so and the roster still does (a token's roles are those of its
// login; docs/ARCHITECTURE.md, decision 15). Platform admins pass.
func (s *Service) requireRole(ctx context.Context, m Meta, tid events.TenantID, role string) error {
	if m.Principal.Has(identity.RolePlatformAdmin) {
		return nil
	}
	forbidden := domain.Errorf(domain.CodeForbidden, "this action needs the %s role", role)
	if !m.Principal.Has(role) {
		return forbidden
	}
	r, err := s.roster(ctx, tid)
	if err != nil {
		return err
	}
	return s.rosterAllows(m, tid, r, role)
}

// rosterAllows is requireRole's roster check against the roster r: a roster
// change calls it again at the exact version it appends at, so a caller
// demoted or removed while its request was in flight changes nothing.
func (s *Service) rosterAllows(m Meta, tid events.TenantID, r *member.Roster, role string) error {
	if m.Principal.Has(identity.RolePlatformAdmin) {
		return nil
	}
	mem := s.memberIn(r, tid, m.Principal)
	if mem == nil && r.Version > 0 || mem != nil && !(mem.Active && mem.Has(role)) {
		return domain.Errorf(domain.CodeForbidden, "this action needs the %s role", role)
	}
	return nil
}

// DirectoryUsernames is implemented by a UserDirectory whose tokens name users
// by a username of its own (Cognito's username claim) rather than the store's
// user id, so the roster can find the member a token names.
type DirectoryUsernames interface {
	Username(tenantID, email string) string
}

// memberIn finds the roster member a user's token names (nil if none): by
// user id where the store issues the tokens; where a directory does (its
// subjects are not the store's ids), by the directory's username, else the
// token's email.
func (s *Service) memberIn(r *member.Roster, tid events.TenantID, p identity.Principal) *member.Member {
	if mem, ok := r.Get(p.UserID); ok || s.Users == nil {
		return mem
	}
	d, named := s.Users.(DirectoryUsernames)
	for _, mem := range r.Members() {
		if !mem.Active {
			continue
		}
		if named && p.Username != "" && d.Username(string(tid), mem.Email) == p.Username ||
			p.Username == "" && p.Email != "" && strings.EqualFold(mem.Email, p.Email) {
			return mem
		}
	}
	return nil
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
	case errors.Is(err, shred.ErrErased):
		// The tenant's data keys were destroyed: nothing personal can be
		// stored for it any more (decision 19).
		return &domain.Error{Code: domain.CodeNotFound, Message: "the tenant was erased", Err: err}
	case errors.Is(err, events.ErrConcurrency):
		return &domain.Error{Code: domain.CodeConflict, Message: "the resource was changed concurrently; retry", Err: err}
	case errors.Is(err, events.ErrTooLarge):
		return &domain.Error{Code: domain.CodeTooLarge, Message: "the request is too large", Err: err}
	case errors.Is(err, events.ErrIdempotencyKeyReuse):
		return &domain.Error{Code: errKeyReused.Code, Field: errKeyReused.Field, Message: errKeyReused.Message, Err: err}
	case errors.Is(err, events.ErrInvalid):
		return &domain.Error{Code: domain.CodeInvalid, Message: "invalid request", Err: err}
	case errors.Is(err, events.ErrClosed):
		return &domain.Error{Code: domain.CodeUnavailable, Message: "the server is shutting down", Err: err}
	case errors.Is(err, events.ErrUnavailable):
		return &domain.Error{Code: domain.CodeUnavailable, Message: "the store cannot take writes right now; retry later", Err: &retryLater{err: err, after: StoreRetryAfter}}
	}
	return fmt.Errorf("%s: %w", op, err)
}
