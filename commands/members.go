package commands

import (
	"context"
	"errors"
	"sync"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// The roster (docs/ARCHITECTURE.md, decision 15) is one stream per tenant that
// holds everything about its members after their user.added: roles, removal,
// password changes. Every change a tenant-wide rule depends on (at least one
// admin) is appended at the exact version the check read, so two admins
// demoting each other cannot both succeed. Reads go through a per-process
// cache that reads only the events appended since it last looked.

// rosterCacheTenants bounds the roster cache; past it the cache starts over.
const rosterCacheTenants = 10_000

// importChunk is how many members one members.imported event carries: at most
// about 400 bytes each (a 254-character email, ids, roles, a time), so a chunk
// stays well inside the 64 KiB an event may hold.
const importChunk = 100

type rosterCache struct {
	mu sync.Mutex
	m  map[events.TenantID]*member.Roster
}

func (s *Service) rosters() *rosterCache {
	s.rosterOnce.Do(func() { s.rosterCache = &rosterCache{m: map[events.TenantID]*member.Roster{}} })
	return s.rosterCache
}

// roster returns the tenant's roster as the store has it now. Its first read
// of a tenant whose users predate rosters imports them (importRoster). The
// result is shared: callers must not change it.
func (s *Service) roster(ctx context.Context, tid events.TenantID) (*member.Roster, error) {
	c := s.rosters()
	c.mu.Lock()
	cached := c.m[tid]
	c.mu.Unlock()
	from := int64(1)
	if cached != nil {
		from = cached.Version + 1
	}
	evs, err := s.Store.Load(ctx, tid, member.RosterStreamID, from)
	switch {
	case errors.Is(err, events.ErrNotFound) && cached == nil:
		return s.importRoster(ctx, tid)
	case errors.Is(err, events.ErrNotFound):
		evs = nil // past the end
	case err != nil:
		return nil, storeError("load roster", err)
	}
	if len(evs) == 0 && cached != nil {
		return cached, nil
	}
	r := &member.Roster{}
	if cached != nil {
		r = cached.Clone()
	}
	for _, e := range evs {
		p, err := schema.Registry.Decode(e)
		if err != nil {
			return nil, storeError("decode roster", err)
		}
		r.Apply(e.Version, p)
	}
	c.mu.Lock()
	if len(c.m) >= rosterCacheTenants {
		c.m = map[events.TenantID]*member.Roster{}
	}
	if old := c.m[tid]; old == nil || old.Version < r.Version {
		c.m[tid] = r
	}
	c.mu.Unlock()
	return r, nil
}

// importRoster starts the roster of a tenant that has none from the user.added
// events of its history (users added before rosters existed, or by an
// onboarding that stopped before its member.added). A tenant without users
// gets no roster: the empty one is returned and nothing is written.
func (s *Service) importRoster(ctx context.Context, tid events.TenantID) (*member.Roster, error) {
	var found []member.Added
	var after events.Cursor
	for {
		p, err := s.Store.ReadTenant(ctx, tid, after, events.ReadOptions{Types: []string{tenant.TypeUserAdded}})
		if err != nil {
			return nil, storeError("read users", err)
		}
		for _, e := range p.Events {
			u, err := events.DecodeAs[tenant.UserAdded](schema.Registry, e)
			if err != nil {
				return nil, storeError("decode user", err)
			}
			found = append(found, member.Added{UserID: u.UserID, Email: u.Email, Roles: u.Roles, Source: member.SourceImport, At: u.At})
		}
		after = p.Next
		if !p.More || len(p.Events) == 0 {
			break
		}
	}
	if len(found) == 0 {
		return &member.Roster{}, nil
	}
	now := s.Clock.Now()
	var evs []events.NewEvent
	for i := 0; i < len(found); i += importChunk {
		evs = append(evs, newEvent(&member.Imported{Members: found[i:min(i+importChunk, len(found))], At: now}))
	}
	expected := events.NoStream
	for len(evs) > 0 {
		n := min(len(evs), events.DefaultLimits.MaxEventsPerAppend)
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: member.RosterStreamID, StreamType: member.RosterStreamType,
			Expected: expected, Events: evs[:n],
		})
		if errors.Is(err, events.ErrConcurrency) && expected == events.NoStream {
			break // another reader imported it first
		}
		if err != nil {
			return nil, storeError("import roster", err)
		}
		expected = events.Exactly(res.Events[len(res.Events)-1].Version)
		evs = evs[n:]
	}
	return s.roster(ctx, tid)
}

// ensureMember puts a user whose user.added is stored on the roster, unless it
// is there already (as a member or a removed one). It repairs what a command
// that stopped between its two appends left, and is how every command adds.
//
// An add is appended at any version of an existing roster: no tenant-wide
// rule depends on it (one more member never leaves the tenant without an
// admin), and the user.added is stored already, so losing races with other
// roster appends must not turn into a refusal after that write. Two
// concurrent repairs of one user may both append; the roster folds the second
// as a no-op.
func (s *Service) ensureMember(ctx context.Context, m Meta, tid events.TenantID, a member.Added) (*member.Roster, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.roster(ctx, tid)
		if err != nil {
			return nil, err
		}
		if _, ok := r.Get(a.UserID); ok {
			return r, nil
		}
		expected := events.AnyVersion
		if r.Version == 0 {
			expected = events.NoStream // the first roster event: another may create it first
		}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: member.RosterStreamID, StreamType: member.RosterStreamType,
			Expected: expected, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
			Events: []events.NewEvent{newEvent(&a)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt < maxRosterAttempts {
			continue
		}
		if err != nil {
			return nil, storeError("add member", err)
		}
		return s.roster(ctx, tid)
	}
}

// maxRosterAttempts bounds the retries of a roster append that keeps losing
// its expected version to concurrent ones; past it the answer is a 409.
const maxRosterAttempts = 8

// appendRoster appends ev to the roster at the version check read (check
// returns the event to append, or an error that ends the command), reading
// again and checking again when another append came first.
func (s *Service) appendRoster(ctx context.Context, m Meta, tid events.TenantID, check func(r *member.Roster) (any, error)) (*member.Roster, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.roster(ctx, tid)
		if err != nil {
			return nil, err
		}
		ev, err := check(r)
		if err != nil || ev == nil {
			return r, err
		}
		_, err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: member.RosterStreamID, StreamType: member.RosterStreamType,
			Expected: events.Exactly(r.Version), CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
			Events: []events.NewEvent{newEvent(ev)},
		})
		if errors.Is(err, events.ErrConcurrency) {
			if attempt < maxRosterAttempts {
				continue
			}
			return nil, errBusy
		}
		if err != nil {
			return nil, storeError("change roster", err)
		}
		return s.roster(ctx, tid)
	}
}

// errBusy answers a roster change that kept losing to concurrent ones.
var errBusy = &domain.Error{Code: domain.CodeConflict, Message: "the tenant's members were changed concurrently; retry"}
