package projections

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/tenantstream/tenantstream/events"
)

var (
	_ Backend = (*MemoryBackend)(nil)
	_ Dumper  = (*MemoryBackend)(nil)
)

// ErrTxDone is returned by a transaction used after Commit or Rollback.
var ErrTxDone = errors.New("projections: transaction already committed or rolled back")

type collKey struct {
	projection string
	gen        int64
	tenant     events.TenantID
	collection string
}

type cpKey struct {
	projection string
	gen        int64
	tenant     events.TenantID
	stream     events.StreamID
}

type genState struct {
	def     int64
	tenants map[events.TenantID]int64
	next    int64
}

func (g *genState) active(tenant events.TenantID) int64 {
	if g == nil {
		return 1
	}
	if v, ok := g.tenants[tenant]; ok {
		return v
	}
	return g.def
}

// MemoryBackend is a Backend in memory, for tests and the projectiontest harness.
// A transaction holds the write lock from Begin to Commit, and undoes its writes on
// Rollback, so readers never see a half-applied batch.
type MemoryBackend struct {
	mu          sync.RWMutex
	rm          map[collKey]map[string][]byte
	checkpoints map[cpKey]int64
	gens        map[string]*genState
	parked      []ParkedEvent
}

// NewMemoryBackend returns an empty in-memory backend.
func NewMemoryBackend() *MemoryBackend {
	return &MemoryBackend{
		rm:          map[collKey]map[string][]byte{},
		checkpoints: map[cpKey]int64{},
		gens:        map[string]*genState{},
	}
}

// Begin implements Backend.
func (m *MemoryBackend) Begin(ctx context.Context) (BackendTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	m.mu.Lock()
	return &memTx{m: m}, nil
}

// Get implements Reader.
func (m *MemoryBackend) Get(ctx context.Context, projection string, tenant events.TenantID, collection, key string) ([]byte, error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("get %s/%s/%s: %w", projection, collection, key, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	ck := collKey{projection, m.gens[projection].active(tenant), tenant, collection}
	v, ok := m.rm[ck][key]
	if !ok {
		return nil, fmt.Errorf("get %s/%s/%s: %w", projection, collection, key, ErrNotFound)
	}
	return slices.Clone(v), nil
}

// AppliedVersion implements AppliedVersionReader.
func (m *MemoryBackend) AppliedVersion(ctx context.Context, projection string, tenant events.TenantID, stream events.StreamID) (int64, error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return 0, fmt.Errorf("applied version %s/%s: %w", projection, stream, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.checkpoints[cpKey{projection, m.gens[projection].active(tenant), tenant, stream}], nil
}

// List implements Reader.
func (m *MemoryBackend) List(ctx context.Context, projection string, tenant events.TenantID, collection, after string, limit int) ([]Entry, error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", projection, collection, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.list(collKey{projection, m.gens[projection].active(tenant), tenant, collection}, after, limit), nil
}

func (m *MemoryBackend) list(ck collKey, after string, limit int) []Entry {
	limit = normLimit(limit)
	coll := m.rm[ck]
	keys := make([]string, 0, len(coll))
	for k := range coll {
		if k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]Entry, 0, min(limit, len(keys)))
	for _, k := range keys[:min(limit, len(keys))] {
		out = append(out, Entry{Key: k, Value: slices.Clone(coll[k])})
	}
	return out
}

// normLimit treats a non-positive List limit as the default page of 1,000.
func normLimit(limit int) int {
	if limit <= 0 {
		return 1000
	}
	return limit
}

// Parked implements Backend.
func (m *MemoryBackend) Parked(_ context.Context, projection string) ([]ParkedEvent, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []ParkedEvent
	for _, p := range m.parked {
		if p.Projection == projection {
			out = append(out, p)
		}
	}
	return out, nil
}

// DropGenerations implements Backend.
func (m *MemoryBackend) DropGenerations(_ context.Context, projection string, tenant events.TenantID, keep int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.rm {
		if k.projection == projection && k.gen != keep && (tenant == "" || k.tenant == tenant) {
			delete(m.rm, k)
		}
	}
	for k := range m.checkpoints {
		if k.projection == projection && k.gen != keep && (tenant == "" || k.tenant == tenant) {
			delete(m.checkpoints, k)
		}
	}
	return nil
}

// DiscardGeneration implements Backend.
func (m *MemoryBackend) DiscardGeneration(_ context.Context, projection string, gen int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.rm {
		if k.projection == projection && k.gen == gen {
			delete(m.rm, k)
		}
	}
	for k := range m.checkpoints {
		if k.projection == projection && k.gen == gen {
			delete(m.checkpoints, k)
		}
	}
	return nil
}

// Dump implements Dumper.
func (m *MemoryBackend) Dump(_ context.Context, projection string) ([]DumpEntry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g := m.gens[projection]
	var out []DumpEntry
	for ck, coll := range m.rm {
		if ck.projection != projection || ck.gen != g.active(ck.tenant) {
			continue
		}
		for k, v := range coll {
			out = append(out, DumpEntry{Tenant: ck.tenant, Collection: ck.collection, Key: k, Value: slices.Clone(v)})
		}
	}
	SortDump(out)
	return out, nil
}

// SortDump orders entries by tenant, collection and key.
func SortDump(d []DumpEntry) {
	slices.SortFunc(d, func(a, b DumpEntry) int {
		if c := strings.Compare(string(a.Tenant), string(b.Tenant)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Collection, b.Collection); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// Close implements Backend.
func (m *MemoryBackend) Close() error { return nil }

type memTx struct {
	m    *MemoryBackend
	undo []func()
	done bool
}

func (t *memTx) check() error {
	if t.done {
		return ErrTxDone
	}
	return nil
}

func (t *memTx) ReadModel(projection string, gen int64) Tx {
	return &memRM{tx: t, projection: projection, gen: gen}
}

func (t *memTx) ActiveGeneration(_ context.Context, projection string, tenant events.TenantID) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	return t.m.gens[projection].active(tenant), nil
}

func (t *memTx) state(projection string) *genState {
	g, ok := t.m.gens[projection]
	if ok {
		old := *g
		old.tenants = maps.Clone(g.tenants)
		t.undo = append(t.undo, func() { *t.m.gens[projection] = old })
		return g
	}
	g = &genState{def: 1, next: 1, tenants: map[events.TenantID]int64{}}
	t.m.gens[projection] = g
	t.undo = append(t.undo, func() { delete(t.m.gens, projection) })
	return g
}

func (t *memTx) NewGeneration(_ context.Context, projection string) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	g := t.state(projection)
	g.next++
	return g.next, nil
}

func (t *memTx) SwitchGeneration(_ context.Context, projection string, tenant events.TenantID, gen int64) error {
	if err := t.check(); err != nil {
		return err
	}
	g := t.state(projection)
	if tenant == "" {
		g.def = gen
		g.tenants = map[events.TenantID]int64{}
	} else {
		g.tenants[tenant] = gen
	}
	oldParked := t.m.parked
	t.undo = append(t.undo, func() { t.m.parked = oldParked })
	t.m.parked = slices.DeleteFunc(slices.Clone(oldParked), func(p ParkedEvent) bool {
		return p.Projection == projection && (tenant == "" || p.Tenant == tenant)
	})
	return nil
}

func (t *memTx) Checkpoint(_ context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	return t.m.checkpoints[cpKey{projection, gen, tenant, stream}], nil
}

func (t *memTx) SetCheckpoint(_ context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID, version int64) error {
	if err := t.check(); err != nil {
		return err
	}
	k := cpKey{projection, gen, tenant, stream}
	old, had := t.m.checkpoints[k]
	t.undo = append(t.undo, func() {
		if had {
			t.m.checkpoints[k] = old
		} else {
			delete(t.m.checkpoints, k)
		}
	})
	t.m.checkpoints[k] = version
	return nil
}

func (t *memTx) Park(_ context.Context, p ParkedEvent) error {
	if err := t.check(); err != nil {
		return err
	}
	n := len(t.m.parked)
	t.undo = append(t.undo, func() { t.m.parked = t.m.parked[:n] })
	t.m.parked = append(t.m.parked, p)
	return nil
}

// CoalescesWrites implements WriteCoalescer, as the SQLite backend does, so the
// harness exercises the same path.
func (t *memTx) CoalescesWrites() bool { return true }

func (t *memTx) Commit() error {
	if err := t.check(); err != nil {
		return err
	}
	t.done = true
	t.m.mu.Unlock()
	return nil
}

func (t *memTx) Rollback() error {
	if t.done {
		return nil
	}
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.done = true
	t.m.mu.Unlock()
	return nil
}

type memRM struct {
	tx         *memTx
	projection string
	gen        int64
}

func (r *memRM) key(tenant events.TenantID, collection string) collKey {
	return collKey{r.projection, r.gen, tenant, collection}
}

func (r *memRM) Get(_ context.Context, tenant events.TenantID, collection, key string) ([]byte, error) {
	if err := r.tx.check(); err != nil {
		return nil, err
	}
	v, ok := r.tx.m.rm[r.key(tenant, collection)][key]
	if !ok {
		return nil, fmt.Errorf("get %s/%s: %w", collection, key, ErrNotFound)
	}
	return slices.Clone(v), nil
}

func (r *memRM) set(ck collKey, key string, value []byte, del bool) {
	coll := r.tx.m.rm[ck]
	old, had := coll[key]
	r.tx.undo = append(r.tx.undo, func() {
		c := r.tx.m.rm[ck]
		if had {
			if c == nil {
				c = map[string][]byte{}
				r.tx.m.rm[ck] = c
			}
			c[key] = old
		} else if c != nil {
			delete(c, key)
		}
	})
	if del {
		delete(coll, key)
		return
	}
	if coll == nil {
		coll = map[string][]byte{}
		r.tx.m.rm[ck] = coll
	}
	coll[key] = slices.Clone(value)
}

func (r *memRM) Put(_ context.Context, tenant events.TenantID, collection, key string, value []byte) error {
	if err := r.tx.check(); err != nil {
		return err
	}
	r.set(r.key(tenant, collection), key, value, false)
	return nil
}

func (r *memRM) Delete(_ context.Context, tenant events.TenantID, collection, key string) error {
	if err := r.tx.check(); err != nil {
		return err
	}
	r.set(r.key(tenant, collection), key, nil, true)
	return nil
}

func (r *memRM) List(_ context.Context, tenant events.TenantID, collection, after string, limit int) ([]Entry, error) {
	if err := r.tx.check(); err != nil {
		return nil, err
	}
	return r.tx.m.list(r.key(tenant, collection), after, limit), nil
}
