package shred_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/shred"
	"github.com/tenantstream/tenantstream/events/storetest"
)

func seal(paths ...string) shred.Spec {
	var s shred.Spec
	for _, p := range paths {
		s.Fields = append(s.Fields, shred.Field{Path: p})
	}
	return s
}

// contractSpecs seal fields of the event types the contract suite appends.
var contractSpecs = shred.Specs{
	"a.b": seal("x", "i", "n"), "a.c": seal("x", "n"), "a.x": seal("who"), "a.y": seal("who"), "b.x": seal("who"),
	"x.happened": seal("step"), "race.won": seal("g"), "item.created": seal("name", "nested"), "item.renamed": seal("name"),
}

// The sealing layer changes nothing a store promises.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clk clock.Clock) events.Store {
		inner := memstore.New(memstore.WithClock(clk), memstore.WithLimits(shred.SealedLimits(events.DefaultLimits)))
		s, err := shred.New(inner, shred.NewMemoryKeyring(), contractSpecs)
		require.NoError(t, err)
		return s
	})
}

var specs = shred.Specs{
	"item.put":       {Fields: []shred.Field{{Path: "data"}}},
	"usage.reported": {Fields: []shred.Field{{Path: "records[].properties", Mode: shred.HashValues}}},
	"name.reserved":  {KeyTenant: "tenant_id", Fields: []shred.Field{{Path: "admin_email"}}},
}

type fixture struct {
	inner *memstore.Store
	keys  *shred.MemoryKeyring
	s     *shred.Store
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{inner: memstore.New(memstore.WithLimits(shred.SealedLimits(events.DefaultLimits))), keys: shred.NewMemoryKeyring()}
	var err error
	f.s, err = shred.New(f.inner, f.keys, specs)
	require.NoError(t, err)
	return f
}

func appendOne(t *testing.T, s events.Store, tenant events.TenantID, stream events.StreamID, typ, data string) events.Event {
	t.Helper()
	res, err := s.Append(context.Background(), events.AppendRequest{Tenant: tenant, Stream: stream, Expected: events.AnyVersion,
		Events: []events.NewEvent{{Type: typ, Data: json.RawMessage(data)}}})
	require.NoError(t, err)
	return res.Events[0]
}

func rawLoad(t *testing.T, s events.Store, tenant events.TenantID, stream events.StreamID) []events.Event {
	t.Helper()
	evs, err := s.Load(context.Background(), tenant, stream, 1)
	require.NoError(t, err)
	return evs
}

func TestSealOpenAndErase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, data string
		secrets         []string // never in the stored form
		clear           []string // kept in the stored form
		erased          string   // the redacted form's data, minus nothing random
	}{
		{name: "item data", typ: "item.put", data: `{"item_id":"doc-1","data":{"title":"Secret plan"},"size":23,"prev_size":0,"at":"2026-01-01T00:00:00Z"}`,
			secrets: []string{"Secret plan", "title"}, clear: []string{`"item_id":"doc-1"`, `"size":23`},
			erased: `{"item_id":"doc-1","data":null,"size":23,"prev_size":0,"at":"2026-01-01T00:00:00Z"}`},
		{name: "usage properties", typ: "usage.reported",
			data:    `{"records":[{"id":"u1","meter":"seats","quantity":"1","properties":{"user":"alice@acme.test"}},{"id":"u2","meter":"seats","quantity":"1"},{"id":"u3","meter":"seats","quantity":"1","properties":{"user":"alice@acme.test"}}]}`,
			secrets: []string{"alice@acme.test"}, clear: []string{`"quantity":"1"`, `"meter":"seats"`, `"user":"h1:`}},
		{name: "nothing sensitive present", typ: "item.put", data: `{"item_id":"doc-2","size":0}`, clear: []string{`{"item_id":"doc-2","size":0}`},
			erased: `{"item_id":"doc-2","size":0}`},
		{name: "type in clear", typ: "invoice.issued", data: `{"total":"12.00","email":"kept@acme.test"}`, clear: []string{"kept@acme.test"},
			erased: `{"total":"12.00","email":"kept@acme.test"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			written := appendOne(t, f.s, "t1", "s1", tt.typ, tt.data)
			assert.Equal(t, tt.data, string(written.Data), "the append answers with the plaintext")

			stored := rawLoad(t, f.inner, "t1", "s1")[0]
			for _, s := range tt.secrets {
				assert.NotContains(t, string(stored.Data), s)
			}
			for _, c := range tt.clear {
				assert.Contains(t, string(stored.Data), c)
			}

			got := rawLoad(t, f.s, "t1", "s1")[0]
			assert.Equal(t, tt.data, string(got.Data), "opening gives back the very bytes")
			assert.False(t, got.Erased)

			require.NoError(t, f.s.Erase(context.Background(), "t1"))
			red := rawLoad(t, f.s, "t1", "s1")[0]
			for _, s := range tt.secrets {
				assert.NotContains(t, string(red.Data), s)
			}
			if tt.erased != "" {
				assert.Equal(t, tt.erased, string(red.Data))
			}
			assert.Equal(t, strings.HasPrefix(string(stored.Data), `{"_sealed"`), red.Erased, "only sealed events are marked erased")

			_, err := f.s.Append(context.Background(), events.AppendRequest{Tenant: "t1", Stream: "s2", Expected: events.AnyVersion,
				Events: []events.NewEvent{{Type: "item.put", Data: json.RawMessage(`{"item_id":"x","data":{"a":1}}`)}}})
			assert.ErrorIs(t, err, shred.ErrErased, "nothing is sealed for an erased tenant")
		})
	}
}

// unique_count over the hashes equals the one over the values, before and after erasure.
func TestHashedPropertiesCountTheSame(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	appendOne(t, f.s, "t1", "usage-2026-01", "usage.reported",
		`{"records":[{"id":"1","properties":{"user":"a"}},{"id":"2","properties":{"user":"b"}},{"id":"3","properties":{"user":"a"}}]}`)
	appendOne(t, f.s, "t1", "usage-2026-01", "usage.reported", `{"records":[{"id":"4","properties":{"user":"b","device":"a"}}]}`)
	count := func(s events.Store) int {
		seen := map[string]bool{}
		for _, ev := range rawLoad(t, s, "t1", "usage-2026-01") {
			var r struct {
				Records []struct{ Properties map[string]string } `json:"records"`
			}
			require.NoError(t, json.Unmarshal(ev.Data, &r))
			for _, rec := range r.Records {
				if v, ok := rec.Properties["user"]; ok {
					seen[v] = true
				}
			}
		}
		return len(seen)
	}
	assert.Equal(t, 2, count(f.s))
	require.NoError(t, f.s.Erase(context.Background(), "t1"))
	assert.Equal(t, 2, count(f.s))
}

// Ciphertext moved to another event, or edited, is refused; another tenant's
// key never opens it.
func TestTamperedCiphertextIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := appendOne(t, f.s, "t1", "item-a", "item.put", `{"item_id":"a","data":{"v":"A"}}`)
	b := appendOne(t, f.s, "t1", "item-b", "item.put", `{"item_id":"b","data":{"v":"B"}}`)
	appendOne(t, f.s, "t2", "item-a", "item.put", `{"item_id":"a","data":{"v":"other"}}`)
	storedA := rawLoad(t, f.inner, "t1", "item-a")[0]
	storedB := rawLoad(t, f.inner, "t1", "item-b")[0]
	storedT2 := rawLoad(t, f.inner, "t2", "item-a")[0]

	sealedOf := func(ev events.Event) string {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(ev.Data, &m))
		return string(m["_sealed"])
	}
	swap := func(ev events.Event, sealed string) events.Event {
		ev.Data = json.RawMessage(strings.Replace(string(ev.Data), sealedOf(ev), sealed, 1))
		return ev
	}
	flip := func(ev events.Event) events.Event {
		s := sealedOf(ev)
		i := len(s) - 3
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		ev.Data = json.RawMessage(strings.Replace(string(ev.Data), s, s[:i]+string(c)+s[i+1:], 1))
		return ev
	}
	tests := []struct {
		name string
		ev   events.Event
	}{
		{"ciphertext of another event", swap(storedA, sealedOf(storedB))},
		{"event moved to another stream", func() events.Event { e := storedA; e.StreamID = "item-b"; return e }()},
		{"event id changed", func() events.Event { e := storedA; e.ID = b.ID; return e }()},
		{"type changed", func() events.Event { e := storedA; e.Type = "usage.reported"; return e }()},
		{"another tenant's ciphertext", swap(storedA, sealedOf(storedT2))},
		{"event put in another tenant", func() events.Event { e := storedA; e.TenantID = "t2"; return e }()},
		{"a flipped byte", flip(storedA)},
		{"truncated", func() events.Event { e := storedA; s := sealedOf(e); return swap(e, s[:20]+`"`) }()},
		{"not base64", swap(storedA, `"m1.!!!"`)},
		{"unknown key id", swap(storedA, `"zz`+strings.TrimPrefix(sealedOf(storedA), `"`+strings.SplitN(strings.Trim(sealedOf(storedA), `"`), ".", 2)[0]))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.s.Open(context.Background(), tt.ev)
			require.Error(t, err)
			assert.ErrorIs(t, err, shred.ErrTampered)
			assert.ErrorIs(t, err, events.ErrInvalid)
		})
	}
	got, err := f.s.Open(context.Background(), storedA)
	require.NoError(t, err)
	assert.Equal(t, string(a.Data), string(got.Data), "the untouched event still opens")
}

// Erasing one tenant leaves every other readable, even with a shared key
// tenant in the platform's streams.
func TestEraseIsPerTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	appendOne(t, f.s, "t1", "item-a", "item.put", `{"item_id":"a","data":{"v":"one"}}`)
	appendOne(t, f.s, "t2", "item-a", "item.put", `{"item_id":"a","data":{"v":"two"}}`)
	appendOne(t, f.s, "_platform", "name-one", "name.reserved", `{"tenant_id":"t1","admin_email":"a@one.test"}`)
	appendOne(t, f.s, "_platform", "name-two", "name.reserved", `{"tenant_id":"t2","admin_email":"a@two.test"}`)
	require.NoError(t, f.s.Erase(context.Background(), "t1"))

	assert.True(t, rawLoad(t, f.s, "t1", "item-a")[0].Erased)
	assert.Equal(t, `{"item_id":"a","data":{"v":"two"}}`, string(rawLoad(t, f.s, "t2", "item-a")[0].Data))
	one := rawLoad(t, f.s, "_platform", "name-one")[0]
	assert.True(t, one.Erased, "a platform event about t1 is sealed with t1's key")
	assert.Equal(t, `{"tenant_id":"t1","admin_email":null}`, string(one.Data))
	assert.Equal(t, `{"tenant_id":"t2","admin_email":"a@two.test"}`, string(rawLoad(t, f.s, "_platform", "name-two")[0].Data))

	_, err := f.s.Append(context.Background(), events.AppendRequest{Tenant: "_platform", Stream: "name-x", Expected: events.AnyVersion,
		Events: []events.NewEvent{{Type: "name.reserved", Data: json.RawMessage(`{"admin_email":"x@x.test"}`)}}})
	assert.ErrorIs(t, err, events.ErrInvalid, "a platform event must name its key tenant")
}

// Reads of every kind open; the inner store's cached events are never changed.
func TestEveryReadOpens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "item-a", Expected: events.NoStream, IdempotencyKey: "k1", Fingerprint: "f",
		Events: []events.NewEvent{{Type: "item.put", Data: json.RawMessage(`{"item_id":"a","data":{"v":"plain"}}`)}}})
	require.NoError(t, err)
	want := string(res.Events[0].Data)

	again, err := f.s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "item-a", Expected: events.NoStream, IdempotencyKey: "k1", Fingerprint: "f",
		Events: []events.NewEvent{{Type: "item.put", Data: json.RawMessage(`{"item_id":"a","data":{"v":"plain"}}`)}}})
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, want, string(again.Events[0].Data))

	rec, found, err := f.s.Idempotency(ctx, "t1", "k1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, want, string(rec.Result.Events[0].Data))

	page, err := f.s.ReadTenant(ctx, "t1", "", events.ReadOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, string(page.Events[0].Data))
	page, err = f.s.ReadAll(ctx, "", events.ReadOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, string(page.Events[0].Data))
	var replayed []string
	_, err = f.s.Replay(ctx, events.ReplayOptions{}, func(ev events.Event) error { replayed = append(replayed, string(ev.Data)); return nil })
	require.NoError(t, err)
	assert.Equal(t, []string{want}, replayed)

	assert.True(t, strings.HasPrefix(string(rawLoad(t, f.inner, "t1", "item-a")[0].Data), `{"_sealed":"`), "the inner store keeps ciphertext")
}

// Appends and reads from many goroutines share the key cache safely.
func TestConcurrentSealing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := events.TenantID([]string{"t1", "t2", "t3"}[g%3])
			_, err := f.s.Append(context.Background(), events.AppendRequest{Tenant: tenant, Stream: "item-a", Expected: events.AnyVersion,
				Events: []events.NewEvent{{Type: "item.put", Data: json.RawMessage(`{"item_id":"a","data":{"g":1}}`)}}})
			if err == nil {
				_, err = f.s.Load(context.Background(), tenant, "item-a", 1)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// A keyring that fails (a KMS outage) fails the append: nothing is stored in clear.
func TestKeyringFailureStoresNothing(t *testing.T) {
	t.Parallel()
	inner := memstore.New(memstore.WithLimits(shred.SealedLimits(events.DefaultLimits)))
	s, err := shred.New(inner, failingKeyring{}, specs)
	require.NoError(t, err)
	_, err = s.Append(context.Background(), events.AppendRequest{Tenant: "t1", Stream: "item-a", Expected: events.AnyVersion,
		Events: []events.NewEvent{{Type: "item.put", Data: json.RawMessage(`{"item_id":"a","data":{"g":1}}`)}}})
	require.Error(t, err)
	_, err = inner.Load(context.Background(), "t1", "item-a", 1)
	assert.ErrorIs(t, err, events.ErrNotFound)
}

type failingKeyring struct{}

var errOutage = errors.New("kms unavailable")

func (failingKeyring) Current(context.Context, events.TenantID) (shred.Key, error) {
	return shred.Key{}, errOutage
}
func (failingKeyring) Get(context.Context, events.TenantID, string) (shred.Key, error) {
	return shred.Key{}, errOutage
}
func (failingKeyring) Destroy(context.Context, events.TenantID) error { return errOutage }

func TestBadSpecsAreRefused(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "a.b", "a[]", "[].b", "a[].b.c", "_sealed", "x[]._sealed"} {
		_, err := shred.New(memstore.New(), shred.NewMemoryKeyring(), shred.Specs{"t": seal(p)})
		assert.Error(t, err, p)
	}
}

// Another instance keeps opening a tenant's events for at most its key cache
// TTL after an erasure elsewhere; a fresh one never does.
func TestErasureReachesOtherInstancesWithinTheirCacheTTL(t *testing.T) {
	t.Parallel()
	inner := memstore.New(memstore.WithLimits(shred.SealedLimits(events.DefaultLimits)))
	keys := shred.NewMemoryKeyring()
	newStore := func(ttl time.Duration) *shred.Store {
		s, err := shred.New(inner, keys, specs, shred.WithKeyCacheTTL(ttl))
		require.NoError(t, err)
		return s
	}
	a, cached, uncached := newStore(time.Hour), newStore(time.Hour), newStore(0)
	appendOne(t, a, "t1", "item-a", "item.put", `{"item_id":"a","data":{"v":"x"}}`)
	assert.False(t, rawLoad(t, cached, "t1", "item-a")[0].Erased, "the other instance caches the key")
	require.NoError(t, a.Erase(context.Background(), "t1"))
	assert.False(t, rawLoad(t, cached, "t1", "item-a")[0].Erased, "within its TTL it still opens")
	assert.True(t, rawLoad(t, uncached, "t1", "item-a")[0].Erased)
	assert.True(t, rawLoad(t, newStore(time.Hour), "t1", "item-a")[0].Erased)
}
