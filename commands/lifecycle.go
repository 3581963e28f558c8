package commands

import (
	"time"

	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Problem types of a write refused for the tenant's state (docs/lifecycle.md).
const (
	ProblemTenantSuspended   = "https://tenantstream.dev/problems/tenant-suspended"
	ProblemTenantOffboarding = "https://tenantstream.dev/problems/tenant-offboarding"
	ProblemTenantErased      = "https://tenantstream.dev/problems/tenant-erased"
)

// TenantEraser erases a tenant's data once it is offboarding (built
// elsewhere: docs/lifecycle.md, "Erasure"). Service.OffboardTenant with erase
// calls it, then records tenant.erased.
type TenantEraser interface {
	EraseTenant(ctx context.Context, tid events.TenantID) error
}

// ErrEraseNotAvailable answers an offboarding that asks for erasure where no
// TenantEraser is wired: nothing was changed.
var ErrEraseNotAvailable = &domain.Error{Code: domain.CodeNotImplemented, Field: "erase",
	Message: "erasing a tenant's data is not available on this server yet; offboard with \"erase\": false"}

// stateError is a write refused because of the tenant's state: a 403 whose
// problem type names the state, whose detail says why, and whose extension
// members tenant_status and reason say it for clients (problem.Typed).
type stateError struct {
	typ, title, status, reason string
	err                        *domain.Error
}

func (e *stateError) Error() string                    { return e.err.Error() }
func (e *stateError) Unwrap() error                    { return e.err }
func (e *stateError) ProblemType() (uri, title string) { return e.typ, e.title }
func (e *stateError) ProblemExtensions() map[string]any {
	return map[string]any{"tenant_status": e.status, "reason": e.reason}
}

func refusedFor(t tenant.Tenant) error {
	e := &stateError{status: t.State(), reason: t.StatusReason}
	switch t.State() {
	case tenant.StatusSuspended:
		e.typ, e.title = ProblemTenantSuspended, "Tenant suspended"
		e.err = domain.Errorf(domain.CodeForbidden,
			"tenant %s is suspended (%s): reads, logins and billing work, writes are refused until it is reactivated", t.Name, t.StatusReason)
	case tenant.StatusOffboarding:
		e.typ, e.title = ProblemTenantOffboarding, "Tenant offboarding"
		e.err = domain.Errorf(domain.CodeForbidden,
			"tenant %s is being offboarded (%s): it is read-only, and its export is available", t.Name, t.StatusReason)
	case tenant.StatusErased:
		e.typ, e.title = ProblemTenantErased, "Tenant erased"
		e.err = domain.Errorf(domain.CodeForbidden, "tenant %s was erased", t.Name)
	default:
		return nil
	}
	return e
}

// stateCacheTenants bounds the state cache; past it the cache starts over.
const stateCacheTenants = 10_000

// stateCache keeps each tenant's folded profile with the version it is folded
// to, like the roster cache (docs/ARCHITECTURE.md, decision 15): every check
// still reads the profile stream after that version, so a suspension appended
// by any instance is seen by the next write anywhere.
type stateCache struct {
	mu sync.Mutex
	m  map[events.TenantID]tenant.Tenant
	// read is when each tenant's profile was last read to the store's head:
	// the checks of one request (the rate limiter's plan, the state check of
	// the command) share that read for stateReuse instead of one Query each.
	read map[events.TenantID]time.Time
}

// stateReuse is how long a profile read to the head answers again without
// reading: the length of a request, not of a cache. A change this process
// appends drops it at once (dropTenantState); one appended by another instance
// is seen at most this much later, less than the time a request takes anyway.
const stateReuse = 50 * time.Millisecond

func (s *Service) states() *stateCache {
	s.stateOnce.Do(func() {
		s.stateCache = &stateCache{m: map[events.TenantID]tenant.Tenant{}, read: map[events.TenantID]time.Time{}}
	})
	return s.stateCache
}

// dropTenantState makes the next check read the profile stream again (this
// process just appended to it).
func (s *Service) dropTenantState(tid events.TenantID) {
	c := s.states()
	c.mu.Lock()
	delete(c.read, tid)
	c.mu.Unlock()
}

// tenantState returns the tenant's profile as the store has it now, reading
// only the profile events after the cached version (on SQLite from the stream
// cache, on DynamoDB one Query of an empty page almost always).
func (s *Service) tenantState(ctx context.Context, tid events.TenantID) (tenant.Tenant, error) {
	c := s.states()
	c.mu.Lock()
	t, ok := c.m[tid]
	at, fresh := c.read[tid]
	c.mu.Unlock()
	if ok && fresh && time.Since(at) < stateReuse {
		return t, nil
	}
	start := time.Now()
	from := t.Version + 1
	evs, err := s.Store.Load(ctx, tid, tenant.StreamID, from)
	switch {
	case errors.Is(err, events.ErrNotFound) && !ok:
		return tenant.Tenant{}, domain.Errorf(domain.CodeNotFound, "no such tenant")
	case errors.Is(err, events.ErrNotFound):
		evs = nil
	case err != nil:
		return tenant.Tenant{}, storeError("load tenant", err)
	}
	if len(evs) == 0 && ok {
		c.mu.Lock()
		if c.read[tid].Before(start) {
			c.read[tid] = start
		}
		c.mu.Unlock()
		return t, nil
	}
	for _, ev := range evs {
		p, err := schema.Registry.Decode(ev)
		if err != nil {
			return tenant.Tenant{}, storeError("decode tenant", err)
		}
		t.Apply(ev.Version, p)
	}
	if t.ID == "" {
		return tenant.Tenant{}, domain.Errorf(domain.CodeNotFound, "no such tenant")
	}
	c.mu.Lock()
	if len(c.m) >= stateCacheTenants {
		c.m = map[events.TenantID]tenant.Tenant{}
		c.read = map[events.TenantID]time.Time{}
	}
	if old, had := c.m[tid]; !had || old.Version < t.Version {
		c.m[tid] = t
		c.read[tid] = start
	}
	c.mu.Unlock()
	return t, nil
}

// requireWritable refuses a write to a tenant that is not active: every
// command that changes a tenant's data, members, keys, invitations, usage or
// plan calls it after authorizeTenant, so the HTTP API, the CLI and the
// Lambda path cannot bypass it (docs/lifecycle.md). A platform admin may still
// change a suspended tenant's plan (operator overrides); nobody writes to an
// offboarding or erased tenant. A write whose check ran just before a
// suspension committed may land just after it: the check reads the profile
// stream, the write appends to another stream.
func (s *Service) requireWritable(ctx context.Context, m Meta, tid events.TenantID) error {
	t, err := s.tenantState(ctx, tid)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return nil // the command's own checks answer for a missing tenant
		}
		return err
	}
	if t.Writable() || t.State() == tenant.StatusSuspended && isOperator(m.Principal) {
		return nil
	}
	return refusedFor(t)
}

// requireReadable refuses the reads of an erased tenant's data: what is left
// of it is redacted, and an answer of nulls would look like data.
func (s *Service) requireReadable(ctx context.Context, tid events.TenantID) error {
	if s.Store == nil {
		return nil // a Service that only reads read models
	}
	t, err := s.tenantState(ctx, tid)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return nil
		}
		return err
	}
	if t.State() == tenant.StatusErased {
		return refusedFor(t)
	}
	return nil
}

// requireRevocable is requireWritable for the commands that only take access
// away (revoking an API key or an invitation, removing a user): a suspended or
// offboarding tenant may still run them, so a leaked key can be revoked while
// the tenant is suspended for non-payment; only an erased tenant refuses them.
func (s *Service) requireRevocable(ctx context.Context, _ Meta, tid events.TenantID) error {
	return s.requireReadable(ctx, tid) // the same rule: only an erased tenant refuses
}

// isOperator reports whether p is a platform operator: the platform_admin
// role, no tenant and no API key (docs/ARCHITECTURE.md, decision 21).
func isOperator(p identity.Principal) bool {
	return p.Has(identity.RolePlatformAdmin) && p.TenantID == "" && p.KeyID == ""
}

// requireOperator refuses every caller but a platform operator.
func requireOperator(m Meta) error {
	if !isOperator(m.Principal) {
		return domain.Errorf(domain.CodeForbidden, "this action needs the %s role", identity.RolePlatformAdmin)
	}
	return nil
}

// SuspendTenant suspends an active tenant (operators only): its writes are
// refused with the reason until ReactivateTenant; reads, logins and billing go
// on, and its admins are notified.
func (s *Service) SuspendTenant(ctx context.Context, m Meta, tenantID, reason string) (tenant.Tenant, error) {
	return s.transition(ctx, m, tenantID, reason, tenant.StatusSuspended, func(t tenant.Tenant, notify []string) any {
		return &tenant.Suspended{Reason: reason, Notify: notify, At: s.Clock.Now()}
	})
}

// ReactivateTenant ends a suspension (operators only); its admins are notified.
func (s *Service) ReactivateTenant(ctx context.Context, m Meta, tenantID, reason string) (tenant.Tenant, error) {
	return s.transition(ctx, m, tenantID, reason, tenant.StatusActive, func(t tenant.Tenant, notify []string) any {
		return &tenant.Reactivated{Reason: reason, Notify: notify, At: s.Clock.Now()}
	})
}

// OffboardTenant starts offboarding an active or suspended tenant (operators
// only): it becomes read-only for good, billing issues one final invoice for
// the period up to now and then skips it. With erase, the tenant's data is
// then erased through the Service's Eraser and tenant.erased recorded; without
// an Eraser such a request changes nothing and answers ErrEraseNotAvailable
// (501). An offboarding tenant offboarded again with erase resumes the
// erasure.
func (s *Service) OffboardTenant(ctx context.Context, m Meta, tenantID, reason string, erase bool) (tenant.Tenant, error) {
	if erase && s.Eraser == nil {
		if err := requireOperator(m); err != nil {
			return tenant.Tenant{}, err
		}
		return tenant.Tenant{}, ErrEraseNotAvailable
	}
	t, err := s.transition(ctx, m, tenantID, reason, tenant.StatusOffboarding, func(t tenant.Tenant, _ []string) any {
		return &tenant.OffboardingStarted{Reason: reason, Erase: erase, At: s.Clock.Now()}
	})
	var de *domain.Error
	if erase && err != nil && errors.As(err, &de) && de.Code == domain.CodeConflict {
		// Already offboarding: erasing is what is left to do.
		cur, lerr := s.loadTenant(ctx, events.TenantID(tenantID))
		if lerr != nil || cur.State() != tenant.StatusOffboarding {
			return tenant.Tenant{}, err
		}
		t, err = cur, nil
	}
	if err != nil || !erase {
		return t, err
	}
	if err := s.Eraser.EraseTenant(ctx, events.TenantID(t.ID)); err != nil {
		return tenant.Tenant{}, fmt.Errorf("erase tenant %s: %w", t.ID, err)
	}
	return s.MarkErased(ctx, Meta{Principal: m.Principal, CorrelationID: m.CorrelationID}, t.ID, reason)
}

// MarkErased records that an offboarding tenant's data was erased (operators
// only): the final state. The eraser calls it once the data is gone.
func (s *Service) MarkErased(ctx context.Context, m Meta, tenantID, reason string) (tenant.Tenant, error) {
	return s.transition(ctx, m, tenantID, reason, tenant.StatusErased, func(t tenant.Tenant, _ []string) any {
		return &tenant.Erased{Reason: reason, At: s.Clock.Now()}
	})
}

// transitionAttempts bounds the retries of a lifecycle change that lost a race
// for the profile stream's head; each retry re-checks the transition.
const transitionAttempts = 8

// transition appends the lifecycle event ev makes, at the exact version of
// the profile it checked, so concurrent changes serialize: each one is valid
// from the state the one before left (tenant.Transition), and one that no
// longer is gets a 409. The actor is the operator, the reason is in the event.
func (s *Service) transition(ctx context.Context, m Meta, tenantID, reason, to string, ev func(t tenant.Tenant, notify []string) any) (tenant.Tenant, error) {
	if err := requireOperator(m); err != nil {
		return tenant.Tenant{}, err
	}
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if err := tenant.ValidateReason(reason); err != nil {
		return tenant.Tenant{}, err
	}
	wantType := map[string]string{tenant.StatusSuspended: tenant.TypeSuspended, tenant.StatusActive: tenant.TypeReactivated,
		tenant.StatusOffboarding: tenant.TypeOffboardingStarted, tenant.StatusErased: tenant.TypeErased}[to]
	answer := func(res events.AppendResult) (tenant.Tenant, error) {
		if len(res.Events) == 0 || res.Events[0].Type != wantType {
			return tenant.Tenant{}, errKeyReused
		}
		return s.tenantAt(ctx, tid, res.LastVersion())
	}
	if res, dup, err := s.firstResult(ctx, m, tid, tenant.StreamID); err != nil {
		return tenant.Tenant{}, err
	} else if dup {
		return answer(res)
	}
	for attempt := 0; ; attempt++ {
		t, err := s.loadTenant(ctx, tid)
		if err != nil {
			return tenant.Tenant{}, err
		}
		if err := tenant.Transition(t.LifecycleState(), to); err != nil {
			return tenant.Tenant{}, err
		}
		var notify []string
		if to == tenant.StatusSuspended || to == tenant.StatusActive {
			if notify, err = s.adminEmails(ctx, tid); err != nil {
				return tenant.Tenant{}, err
			}
		}
		payload := ev(t, notify)
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: tenant.StreamID, StreamType: tenant.StreamType, Expected: events.Exactly(t.Version),
			IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
			Events: []events.NewEvent{newEvent(payload)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < transitionAttempts {
			continue
		}
		s.dropTenantState(tid)
		if err != nil {
			return tenant.Tenant{}, storeError("change tenant state", err)
		}
		if res.Duplicate {
			return answer(res)
		}
		t.Apply(res.LastVersion(), payload)
		s.logger().InfoContext(ctx, "tenant state changed", "operator", m.Principal.UserID, "tenant", tid, "status", to, "reason", reason)
		return t, nil
	}
}

// adminEmails lists the emails of the tenant's active admins, sorted.
func (s *Service) adminEmails(ctx context.Context, tid events.TenantID) ([]string, error) {
	r, err := s.roster(ctx, tid)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mem := range r.Members() {
		if mem.Active && mem.Has(identity.RoleTenantAdmin) && mem.Email != "" {
			out = append(out, mem.Email)
		}
	}
	slices.Sort(out)
	return out, nil
}
