package shred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/events"
)

// Store seals the fields Specs name on the way into an inner events.Store and
// opens them on the way out, so commands and projections see plaintext and the
// backend (its files, its backups, its stream cache) only ciphertext. Events of
// a tenant whose key was destroyed come out redacted, with Erased set.
type Store struct {
	inner  events.Store
	keys   Keyring
	specs  map[string]compiled
	limits events.Limits
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[events.TenantID]*entry
}

type entry struct {
	erased  bool
	current *dataKey
	byID    map[string]*dataKey
	at      time.Time
}

var (
	_ events.Store      = (*Store)(nil)
	_ events.KeyClaimer = (*Store)(nil)
	_ events.Replayer   = (*Store)(nil)
	_ events.Notifier   = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithLimits sets the limits appends are checked against before sealing
// (default events.DefaultLimits). Give the inner store SealedLimits of them.
func WithLimits(l events.Limits) Option { return func(s *Store) { s.limits = l } }

// WithKeyCacheTTL sets how long a data key is kept in memory (default 5
// minutes): the longest another instance may keep opening a tenant's events
// after the tenant's key is destroyed elsewhere. A destroyed key is never
// cached as usable once seen.
func WithKeyCacheTTL(d time.Duration) Option { return func(s *Store) { s.ttl = d } }

// DefaultKeyCacheTTL is how long a data key stays in memory by default.
const DefaultKeyCacheTTL = 5 * time.Minute

// SealedLimits are the limits an inner store needs to take every append a
// Store with limits l accepts: sealing base64-encodes the sealed values (4/3)
// and adds a nonce, a tag and a key id, and hashing a property value can make
// it longer than the value.
func SealedLimits(l events.Limits) events.Limits {
	l.MaxDataBytes = l.MaxDataBytes*3/2 + 8<<10
	return l
}

// New returns a Store over inner that seals what specs name with keys' data keys.
func New(inner events.Store, keys Keyring, specs Specs, opts ...Option) (*Store, error) {
	c, err := compile(specs)
	if err != nil {
		return nil, err
	}
	s := &Store{inner: inner, keys: keys, specs: c, limits: events.DefaultLimits, ttl: DefaultKeyCacheTTL, now: time.Now,
		cache: map[events.TenantID]*entry{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Inner returns the store being wrapped.
func (s *Store) Inner() events.Store { return s.inner }

func (s *Store) fresh(e *entry) bool { return e != nil && (e.erased || s.now().Sub(e.at) < s.ttl) }

// current returns the tenant's key to seal with.
func (s *Store) current(ctx context.Context, tenant events.TenantID) (*dataKey, error) {
	s.mu.Lock()
	e := s.cache[tenant]
	if s.fresh(e) && (e.erased || e.current != nil) {
		s.mu.Unlock()
		if e.erased {
			return nil, fmt.Errorf("seal for %s: %w", tenant, ErrErased)
		}
		return e.current, nil
	}
	s.mu.Unlock()
	k, err := s.keys.Current(ctx, tenant)
	if errors.Is(err, ErrErased) {
		s.markErased(tenant)
		return nil, fmt.Errorf("seal for %s: %w", tenant, ErrErased)
	}
	if err != nil {
		return nil, fmt.Errorf("data key of %s: %w", tenant, err)
	}
	return s.remember(tenant, k, true)
}

// remember prepares k and caches it for tenant (as the current key to seal
// with when current).
func (s *Store) remember(tenant events.TenantID, k Key, current bool) (*dataKey, error) {
	dk, err := prepare(k)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.cache[tenant]
	if e == nil || !s.fresh(e) {
		e = &entry{byID: map[string]*dataKey{}, at: s.now()}
		s.cache[tenant] = e
	}
	e.byID[dk.id] = dk
	if current {
		e.current = dk
	}
	return dk, nil
}

// get returns the tenant's key id to open with; ErrErased once destroyed.
func (s *Store) get(ctx context.Context, tenant events.TenantID, id string) (*dataKey, error) {
	s.mu.Lock()
	e := s.cache[tenant]
	if s.fresh(e) {
		if e.erased {
			s.mu.Unlock()
			return nil, ErrErased
		}
		if dk := e.byID[id]; dk != nil {
			s.mu.Unlock()
			return dk, nil
		}
	}
	s.mu.Unlock()
	k, err := s.keys.Get(ctx, tenant, id)
	if errors.Is(err, ErrErased) {
		s.markErased(tenant)
		return nil, ErrErased
	}
	if errors.Is(err, ErrUnknownKey) {
		return nil, fmt.Errorf("%w (%v)", ErrTampered, err)
	}
	if err != nil {
		return nil, fmt.Errorf("data key of %s: %w", tenant, err)
	}
	return s.remember(tenant, k, false)
}

func (s *Store) markErased(tenant events.TenantID) {
	s.mu.Lock()
	s.cache[tenant] = &entry{erased: true}
	s.mu.Unlock()
}

// Erase destroys the tenant's data keys (Keyring.Destroy) and forgets them
// here: from its return, every sealed field of the tenant reads as null
// through this Store, and through any other within its key cache TTL.
func (s *Store) Erase(ctx context.Context, tenant events.TenantID) error {
	if err := tenant.Validate(); err != nil {
		return err
	}
	s.markErased(tenant)
	if err := s.keys.Destroy(ctx, tenant); err != nil {
		return fmt.Errorf("erase %s: %w", tenant, err)
	}
	return nil
}

// keyTenant is the tenant whose key seals ev's data.
func keyTenant(c compiled, tenant events.TenantID, data []byte) (events.TenantID, error) {
	if c.keyTenant == "" {
		return tenant, nil
	}
	o, err := parseObject(data)
	if err != nil {
		return "", fmt.Errorf("%w: %v", events.ErrInvalid, err)
	}
	var t string
	if i := o.index(c.keyTenant); i >= 0 {
		_ = json.Unmarshal(o[i].val, &t)
	}
	kt := events.TenantID(t)
	if err := kt.Validate(); err != nil {
		return "", fmt.Errorf("key tenant %q: %w", c.keyTenant, err)
	}
	return kt, nil
}

// Append implements events.Store: it seals, appends, and answers with the
// plaintext of what was written.
func (s *Store) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if err := req.Validate(s.limits); err != nil {
		return events.AppendResult{}, err
	}
	var plain map[string][]byte
	sealed := req
	for i, ne := range req.Events {
		c, ok := s.specs[ne.Type]
		if !ok {
			// Data that would read as sealed is refused, so no client can
			// make an event the reader takes for ciphertext.
			if bytes.HasPrefix(bytes.TrimLeft(ne.Data, " \t\r\n"), []byte(`{`)) && bytes.HasPrefix(events.AppendCompact(nil, ne.Data), sealedPrefix[:len(sealedPrefix)-1]) {
				return events.AppendResult{}, fmt.Errorf("%w: event %d (%s): the member %q is reserved", events.ErrInvalid, i, ne.Type, sealedMember)
			}
			continue
		}
		if plain == nil {
			plain = make(map[string][]byte, len(req.Events))
			sealed.Events = append([]events.NewEvent(nil), req.Events...)
		}
		if ne.ID == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return events.AppendResult{}, fmt.Errorf("event id: %w", err)
			}
			ne.ID = u.String()
		}
		sv := ne.SchemaVersion
		if sv == 0 {
			sv = 1
		}
		data := events.AppendCompact(nil, ne.Data)
		kt, err := keyTenant(c, req.Tenant, data)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
		}
		k, err := s.current(ctx, kt)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
		}
		id := identity{keyTenant: kt, tenant: req.Tenant, stream: req.Stream, id: ne.ID, typ: ne.Type, schemaVersion: sv}
		out, err := seal(id, data, c, k)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
		}
		plain[ne.ID] = data
		ne.Data = out
		sealed.Events[i] = ne
	}
	res, err := s.inner.Append(ctx, sealed)
	if err != nil || len(res.Events) == 0 {
		return res, err
	}
	if res.Duplicate {
		res.Events, err = s.openEvents(ctx, res.Events)
		return res, err
	}
	if plain != nil {
		out := make([]events.Event, len(res.Events))
		copy(out, res.Events)
		for i := range out {
			if p, ok := plain[out[i].ID]; ok {
				out[i].Data = p
			}
		}
		res.Events = out
	}
	return res, nil
}

// openEvents returns evs with every sealed event opened (or redacted); evs
// itself, which may be a backend's cache, is never modified.
func (s *Store) openEvents(ctx context.Context, evs []events.Event) ([]events.Event, error) {
	var out []events.Event
	for i := range evs {
		ev, changed, err := s.openEvent(ctx, evs[i])
		if err != nil {
			return nil, err
		}
		if !changed {
			if out != nil {
				out[i] = evs[i]
			}
			continue
		}
		if out == nil {
			out = make([]events.Event, len(evs))
			copy(out, evs[:i])
		}
		out[i] = ev
	}
	if out == nil {
		return evs, nil
	}
	return out, nil
}

// Open returns ev with its sealed fields opened, or redacted with Erased set
// when the tenant's key was destroyed. Events in clear come back unchanged.
// Errors: ErrTampered (an events.ErrInvalid) for a ciphertext that does not
// authenticate as this event's under the tenant's key.
func (s *Store) Open(ctx context.Context, ev events.Event) (events.Event, error) {
	ev, _, err := s.openEvent(ctx, ev)
	return ev, err
}

func (s *Store) openEvent(ctx context.Context, ev events.Event) (events.Event, bool, error) {
	kid, ok := sealedKeyID(ev.Data)
	if !ok {
		return ev, false, nil
	}
	kt, err := keyTenant(s.specs[ev.Type], ev.TenantID, ev.Data)
	if err != nil {
		return ev, false, fmt.Errorf("open %s/%s v%d: %w", ev.TenantID, ev.StreamID, ev.Version, ErrTampered)
	}
	k, err := s.get(ctx, kt, kid)
	if errors.Is(err, ErrErased) {
		red, err := redact(ev.Data)
		if err != nil {
			return ev, false, fmt.Errorf("open %s/%s v%d: %w", ev.TenantID, ev.StreamID, ev.Version, err)
		}
		ev.Data, ev.Erased = red, true
		return ev, true, nil
	}
	if err != nil {
		return ev, false, fmt.Errorf("open %s/%s v%d: %w", ev.TenantID, ev.StreamID, ev.Version, err)
	}
	data, err := open(identityOf(ev, kt), ev.Data, k)
	if err != nil {
		return ev, false, fmt.Errorf("open %s/%s v%d: %w", ev.TenantID, ev.StreamID, ev.Version, err)
	}
	ev.Data = data
	return ev, true, nil
}

// Idempotency implements events.Store.
func (s *Store) Idempotency(ctx context.Context, tenant events.TenantID, key string) (events.IdempotencyRecord, bool, error) {
	rec, found, err := s.inner.Idempotency(ctx, tenant, key)
	if err != nil || !found {
		return rec, found, err
	}
	rec.Result.Events, err = s.openEvents(ctx, rec.Result.Events)
	return rec, found, err
}

// Load implements events.Store.
func (s *Store) Load(ctx context.Context, tenant events.TenantID, stream events.StreamID, from int64) ([]events.Event, error) {
	evs, err := s.inner.Load(ctx, tenant, stream, from)
	if err != nil {
		return nil, err
	}
	return s.openEvents(ctx, evs)
}

// ReadTenant implements events.Store.
func (s *Store) ReadTenant(ctx context.Context, tenant events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	p, err := s.inner.ReadTenant(ctx, tenant, after, opts)
	if err != nil {
		return p, err
	}
	p.Events, err = s.openEvents(ctx, p.Events)
	return p, err
}

// ReadAll implements events.Store.
func (s *Store) ReadAll(ctx context.Context, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	p, err := s.inner.ReadAll(ctx, after, opts)
	if err != nil {
		return p, err
	}
	p.Events, err = s.openEvents(ctx, p.Events)
	return p, err
}

// Close implements events.Store; it closes the inner store.
func (s *Store) Close() error { return s.inner.Close() }

// Replay implements events.Replayer, with the inner store's Replay when it
// has one and by pages otherwise.
func (s *Store) Replay(ctx context.Context, opts events.ReplayOptions, fn func(events.Event) error) (events.Cursor, error) {
	each := func(ev events.Event) error {
		ev, _, err := s.openEvent(ctx, ev)
		if err != nil {
			return err
		}
		return fn(ev)
	}
	if r, ok := s.inner.(events.Replayer); ok {
		return r.Replay(ctx, opts, each)
	}
	cur := opts.After
	for {
		if err := ctx.Err(); err != nil {
			return cur, err
		}
		ro := events.ReadOptions{Types: opts.Types}
		var p events.Page
		var err error
		if opts.Tenant != "" {
			p, err = s.inner.ReadTenant(ctx, opts.Tenant, cur, ro)
		} else {
			p, err = s.inner.ReadAll(ctx, cur, ro)
		}
		if err != nil {
			return cur, err
		}
		for _, ev := range p.Events {
			if err := each(ev); err != nil {
				return cur, fmt.Errorf("replay: %w", err)
			}
		}
		cur = p.Next
		if !p.More {
			return cur, nil
		}
	}
}

// Subscribe implements events.Notifier with the inner store's; without one
// the channel never fires and tails poll.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	if n, ok := s.inner.(events.Notifier); ok {
		return n.Subscribe()
	}
	return nil, func() {}
}

// ClaimedKeys implements events.KeyClaimer with the inner store's (every
// backend has one).
func (s *Store) ClaimedKeys(ctx context.Context, tenant events.TenantID, keys []string) (map[string]bool, error) {
	kc, ok := s.inner.(events.KeyClaimer)
	if !ok {
		return nil, fmt.Errorf("%w: the store keeps no claims", events.ErrInvalid)
	}
	return kc.ClaimedKeys(ctx, tenant, keys)
}

// MaxClaimKeys forwards the inner store's limit (DynamoDB's is 99 per append).
func (s *Store) MaxClaimKeys() int {
	if l, ok := s.inner.(interface{ MaxClaimKeys() int }); ok {
		return l.MaxClaimKeys()
	}
	return events.DefaultLimits.MaxClaimKeys
}

// SettleWindow forwards the inner store's window (projections.SettleWindower).
func (s *Store) SettleWindow() time.Duration {
	if w, ok := s.inner.(interface{ SettleWindow() time.Duration }); ok {
		return w.SettleWindow()
	}
	return 0
}
