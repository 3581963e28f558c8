package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
)

var (
	_ events.Store    = (*Store)(nil)
	_ events.Notifier = (*Store)(nil)
)

const defaultLimit = 1000

// cursorPrefix marks cursors of this backend so a foreign cursor is rejected
// instead of being misread as a position.
const cursorPrefix = "mem:"

type streamKey struct {
	tenant events.TenantID
	stream events.StreamID
}

type idemKey struct {
	tenant events.TenantID
	key    string
}

type idemRecord struct {
	stream      events.StreamID
	fingerprint string
	created     time.Time
	positions   []int64
}

// record returns what rec remembers, with the events it names.
func (s *Store) record(rec idemRecord) events.IdempotencyRecord {
	out := make([]events.Event, len(rec.positions))
	for i, p := range rec.positions {
		out[i] = s.all[p-1]
	}
	return events.IdempotencyRecord{Stream: rec.stream, Fingerprint: rec.fingerprint, Created: rec.created,
		Result: events.AppendResult{Events: out, Duplicate: true}}
}

// Idempotency implements events.Store.
func (s *Store) Idempotency(ctx context.Context, tenant events.TenantID, key string) (events.IdempotencyRecord, bool, error) {
	if err := tenant.Validate(); err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", events.ErrClosed)
	}
	rec, ok := s.idem[idemKey{tenant, key}]
	if !ok || events.IdempotencyExpired(rec.created, s.clock.Now()) {
		return events.IdempotencyRecord{}, false, nil
	}
	return s.record(rec), true, nil
}

// Store keeps every event in one slice; an event's Position is its index + 1, the
// same shape as SQLite's rowid, so feeds and cursors behave as they do locally.
type Store struct {
	mu       sync.RWMutex
	clock    clock.Clock
	limits   events.Limits
	all      []events.Event
	streams  map[streamKey][]int64 // positions, in version order
	byTenant map[events.TenantID][]int64
	idem     map[idemKey]idemRecord
	ids      map[idemKey]bool // event ids of SkipDuplicateIDs appends
	claims   map[idemKey]bool // AppendRequest.ClaimKeys
	subs     map[int]chan struct{}
	nextSub  int
	closed   bool
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps recorded_at.
func WithClock(c clock.Clock) Option { return func(s *Store) { s.clock = c } }

// WithLimits overrides events.DefaultLimits.
func WithLimits(l events.Limits) Option { return func(s *Store) { s.limits = l } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		clock:    clock.System{},
		limits:   events.DefaultLimits,
		streams:  map[streamKey][]int64{},
		byTenant: map[events.TenantID][]int64{},
		idem:     map[idemKey]idemRecord{},
		ids:      map[idemKey]bool{},
		claims:   map[idemKey]bool{},
		subs:     map[int]chan struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	if err := req.Validate(s.limits); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	if err := events.CheckScope(ctx, req.Tenant); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, events.ErrClosed)
	}
	if req.IdempotencyKey != "" {
		if rec, ok := s.idem[idemKey{req.Tenant, req.IdempotencyKey}]; ok && !events.IdempotencyExpired(rec.created, s.clock.Now()) {
			r := s.record(rec)
			if !r.Matches(req.Stream, req.Fingerprint) {
				return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, events.ErrIdempotencyKeyReuse)
			}
			return r.Result, nil
		}
	}
	skipped := 0
	if req.SkipDuplicateIDs {
		kept := make([]events.NewEvent, 0, len(req.Events))
		seen := map[string]bool{}
		for _, e := range req.Events {
			if seen[e.ID] || s.ids[idemKey{req.Tenant, e.ID}] {
				continue
			}
			seen[e.ID] = true
			kept = append(kept, e)
		}
		skipped = len(req.Events) - len(kept)
		if len(kept) == 0 {
			return events.AppendResult{Skipped: skipped}, nil
		}
		req.Events = kept
	}
	sk := streamKey{req.Tenant, req.Stream}
	cur := int64(len(s.streams[sk]))
	if req.Expected != events.AnyVersion && int64(req.Expected) != cur {
		return events.AppendResult{}, fmt.Errorf("append %s: expected version %d, stream is at %d: %w", req.Stream, req.Expected, cur, events.ErrConcurrency)
	}
	for _, k := range req.ClaimKeys {
		if s.claims[idemKey{req.Tenant, k}] {
			return events.AppendResult{}, fmt.Errorf("append %s: key %q: %w", req.Stream, k, events.ErrKeyClaimed)
		}
	}
	for _, k := range req.ClaimKeys {
		s.claims[idemKey{req.Tenant, k}] = true
	}
	built, err := req.Build(cur+1, s.clock.Now())
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, err)
	}
	for i := range built {
		// Every backend keeps microseconds (SQLite's text timestamps), so tests that
		// pass on this fake pass on the real store too.
		built[i].OccurredAt = built[i].OccurredAt.Truncate(time.Microsecond)
		built[i].RecordedAt = built[i].RecordedAt.Truncate(time.Microsecond)
	}
	positions := make([]int64, len(built))
	for i := range built {
		built[i].Position = int64(len(s.all)) + 1
		s.all = append(s.all, built[i])
		positions[i] = built[i].Position
	}
	s.streams[sk] = append(s.streams[sk], positions...)
	s.byTenant[req.Tenant] = append(s.byTenant[req.Tenant], positions...)
	if req.IdempotencyKey != "" {
		s.idem[idemKey{req.Tenant, req.IdempotencyKey}] = idemRecord{stream: req.Stream, fingerprint: req.Fingerprint, created: built[0].RecordedAt, positions: positions}
	}
	if req.SkipDuplicateIDs {
		for _, e := range built {
			s.ids[idemKey{req.Tenant, e.ID}] = true
		}
	}
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending; the reader will see this commit too
		}
	}
	return events.AppendResult{Events: built, Skipped: skipped}, nil
}

// Load implements events.Store.
func (s *Store) Load(ctx context.Context, tenant events.TenantID, stream events.StreamID, from int64) ([]events.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := tenant.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := stream.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("load %s: %w", stream, events.ErrClosed)
	}
	positions := s.streams[streamKey{tenant, stream}]
	if len(positions) == 0 {
		return nil, fmt.Errorf("load %s: %w", stream, events.ErrNotFound)
	}
	from = max(from, 1)
	out := []events.Event{}
	for _, p := range positions[min(from-1, int64(len(positions))):] {
		out = append(out, s.all[p-1])
	}
	return out, nil
}

// ReadTenant implements events.Store.
func (s *Store) ReadTenant(ctx context.Context, tenant events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := tenant.Validate(); err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	return s.read(ctx, &tenant, after, opts)
}

// ReadAll implements events.Store.
func (s *Store) ReadAll(ctx context.Context, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := events.CheckUnscoped(ctx, "read all"); err != nil {
		return events.Page{}, err
	}
	return s.read(ctx, nil, after, opts)
}

func (s *Store) read(ctx context.Context, tenant *events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := ctx.Err(); err != nil {
		return events.Page{}, fmt.Errorf("read: %w", err)
	}
	from, err := ParseCursor(after)
	if err != nil {
		return events.Page{}, fmt.Errorf("read: %w", err)
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return events.Page{}, fmt.Errorf("read: %w", events.ErrClosed)
	}
	// at(i) is the i-th candidate position; tenant reads walk the tenant's index,
	// store-wide reads walk positions directly.
	var at func(i int) int64
	var count int
	if tenant != nil {
		positions := s.byTenant[*tenant]
		positions = positions[sort.Search(len(positions), func(i int) bool { return positions[i] > from }):]
		at, count = func(i int) int64 { return positions[i] }, len(positions)
	} else {
		// a cursor past the end (a store reset in tests) resumes at the end
		from = min(from, int64(len(s.all)))
		at, count = func(i int) int64 { return from + 1 + int64(i) }, len(s.all)-int(from)
	}
	page := events.Page{Next: after}
	if after == "" {
		page.Next = FormatCursor(0)
	}
	for i := range count {
		if len(page.Events) == limit {
			page.More = true
			break
		}
		p := at(i)
		ev := s.all[p-1]
		page.Next = FormatCursor(p)
		if len(opts.Types) > 0 && !slices.Contains(opts.Types, ev.Type) {
			continue
		}
		page.Events = append(page.Events, ev)
	}
	return page, nil
}

// Head returns the position of the last stored event (0 when empty); the engine
// uses it to report lag.
func (s *Store) Head(ctx context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, fmt.Errorf("head: %w", events.ErrClosed)
	}
	return int64(len(s.all)), nil
}

// Subscribe implements events.Notifier.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextSub
	s.nextSub++
	ch := make(chan struct{}, 1)
	s.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.subs, id)
			s.mu.Unlock()
		})
	}
}

// Close implements events.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// FormatCursor encodes a position as a cursor of this store.
func FormatCursor(position int64) events.Cursor {
	return events.Cursor(cursorPrefix + strconv.FormatInt(position, 10))
}

// ParseCursor decodes a cursor of this store; the zero cursor is position 0.
func ParseCursor(c events.Cursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(string(c), cursorPrefix)
	if !ok {
		return 0, fmt.Errorf("cursor %q: %w", string(c), events.ErrInvalidCursor)
	}
	p, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != rest {
		return 0, fmt.Errorf("cursor %q: %w", string(c), events.ErrInvalidCursor)
	}
	return p, nil
}

var _ events.KeyClaimer = (*Store)(nil)

// ClaimedKeys implements events.KeyClaimer.
func (s *Store) ClaimedKeys(ctx context.Context, tenant events.TenantID, keys []string) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := tenant.Validate(); err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("claimed keys: %w", events.ErrClosed)
	}
	out := map[string]bool{}
	for _, k := range keys {
		if s.claims[idemKey{tenant, k}] {
			out[k] = true
		}
	}
	return out, nil
}
