package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/dynamodb"
)

// scopedBackend is a backend on moto whose base client is observed and whose
// tenant clients play the tenant role's policy (awstest.LeadingKeys).
type scopedBackend struct {
	*dynamodb.Backend
	policy *awstest.LeadingKeys
	mu     sync.Mutex
	asked  map[events.TenantID]int // factory calls per tenant
}

// recheck is the tests' GenerationRecheck.
const recheck = 50 * time.Millisecond

func newScopedBackend(t *testing.T, ttl time.Duration) *scopedBackend {
	t.Helper()
	ctx := context.Background()
	cfg := awstest.Shared(t).Config()
	plain := ddb.NewFromConfig(cfg)
	table := fmt.Sprintf("readmodels-scoped-%d", tables.Add(1))
	require.NoError(t, dynamodb.CreateTable(ctx, plain, table))
	t.Cleanup(func() {
		_, err := plain.DeleteTable(context.WithoutCancel(ctx), &ddb.DeleteTableInput{TableName: aws.String(table)})
		assert.NoError(t, err)
	})
	s := &scopedBackend{policy: &awstest.LeadingKeys{Resources: map[string]string{table: "PK"}}, asked: map[events.TenantID]int{}}
	baseCfg := cfg.Copy()
	baseCfg.APIOptions = append(baseCfg.APIOptions, s.policy.Observe())
	clients := map[events.TenantID]*ddb.Client{}
	b, err := dynamodb.New(ddb.NewFromConfig(baseCfg), dynamodb.Options{Table: table, GenerationTTL: ttl, GenerationRecheck: recheck,
		TenantClients: func(_ context.Context, tenant events.TenantID) (dynamodb.Client, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.asked[tenant]++
			c, ok := clients[tenant]
			if !ok {
				tc := cfg.Copy()
				tc.APIOptions = append(tc.APIOptions, s.policy.Middleware(string(tenant)))
				c = ddb.NewFromConfig(tc)
				clients[tenant] = c
			}
			return c, nil
		}})
	require.NoError(t, err)
	s.Backend = b
	return s
}

// put writes read-model values in generation gen, as the projector does.
func (s *scopedBackend) put(t *testing.T, gen int64, tenant events.TenantID, kv ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, tx.ReadModel("p", gen).Put(ctx, tenant, "c", kv[i], []byte(kv[i+1])))
	}
	require.NoError(t, tx.Commit())
}

// calls returns the calls recorded since from, split by who made them.
func (s *scopedBackend) calls(from int) (tenant, base []awstest.Call) {
	for _, c := range s.policy.Calls()[from:] {
		if c.Tenant == "" {
			base = append(base, c)
		} else {
			tenant = append(tenant, c)
		}
	}
	return tenant, base
}

// A scoped query reads the tenant's items with the tenant's client, within the
// tenant role's policy; the generation state comes through the backend's own
// client and is reused for GenerationTTL.
func TestScopedReadsUseTheTenantClient(t *testing.T) {
	s := newScopedBackend(t, time.Minute)
	s.put(t, 1, "t1", "a", "1", "b", "2")
	s.put(t, 1, "t2", "a", "other")
	ctx := events.WithTenantScope(context.Background(), "t1")

	from := len(s.policy.Calls())
	v, err := s.Get(ctx, "p", "t1", "c", "a")
	require.NoError(t, err)
	assert.Equal(t, "1", string(v))
	list, err := s.List(ctx, "p", "t1", "c", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []projections.Entry{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}, list)
	_, err = s.Get(ctx, "p", "t1", "c", "missing")
	require.ErrorIs(t, err, projections.ErrNotFound)

	tenant, base := s.calls(from)
	assert.Empty(t, s.policy.Denied(), "the tenant role allows every call")
	require.Len(t, tenant, 3, "each read went through the tenant's client")
	for _, c := range tenant {
		assert.Equal(t, "t1", c.Tenant)
	}
	// The miss came within GenerationRecheck of the state's read: no re-read.
	require.Len(t, base, 1, "the generation state, read once")
	for _, c := range base {
		assert.Equal(t, "GetItem", c.Operation)
		assert.Equal(t, []string{"P#p"}, c.Keys, "only the platform's generation item")
	}
}

// A rebuild switches the generation and drops the old one: a scoped read still
// holding the old generation finds nothing, re-reads the state and answers from
// the new generation.
func TestScopedReadsFollowARebuild(t *testing.T) {
	s := newScopedBackend(t, time.Hour)
	s.put(t, 1, "t1", "a", "old")
	ctx := events.WithTenantScope(context.Background(), "t1")
	v, err := s.Get(ctx, "p", "t1", "c", "a")
	require.NoError(t, err)
	require.Equal(t, "old", string(v))

	bg := context.Background()
	tx, err := s.Begin(bg)
	require.NoError(t, err)
	gen, err := tx.NewGeneration(bg, "p")
	require.NoError(t, err)
	require.NoError(t, tx.ReadModel("p", gen).Put(bg, "t1", "c", "a", []byte("new")))
	require.NoError(t, tx.SwitchGeneration(bg, "p", "", gen))
	require.NoError(t, tx.Commit())
	require.NoError(t, s.DropGenerations(bg, "p", "", gen))
	// A rebuild drops the old generation a settle window after its switch, longer
	// than GenerationRecheck.
	time.Sleep(recheck + 10*time.Millisecond)

	v, err = s.Get(ctx, "p", "t1", "c", "a")
	require.NoError(t, err)
	assert.Equal(t, "new", string(v))
	list, err := s.List(events.WithTenantScope(bg, "t1"), "p", "t1", "c", "", 0)
	require.NoError(t, err)
	assert.Equal(t, []projections.Entry{{Key: "a", Value: []byte("new")}}, list)
	assert.Empty(t, s.policy.Denied())
}

// Scoped misses (every new item's first write looks its item up) share the
// reused generation state: they re-read it at most once per GenerationRecheck,
// not once each, so they cannot make the one state item hot.
func TestScopedMissesRecheckTheGenerationRarely(t *testing.T) {
	s := newScopedBackend(t, time.Hour)
	s.put(t, 1, "t1", "a", "1")
	ctx := events.WithTenantScope(context.Background(), "t1")
	_, err := s.Get(ctx, "p", "t1", "c", "a")
	require.NoError(t, err)
	time.Sleep(recheck + 10*time.Millisecond)
	from := len(s.policy.Calls())
	start := time.Now()
	for i := range 20 {
		_, err := s.Get(ctx, "p", "t1", "c", fmt.Sprintf("new-%d", i))
		require.ErrorIs(t, err, projections.ErrNotFound)
	}
	elapsed := time.Since(start)
	_, base := s.calls(from)
	// One re-check per GenerationRecheck at most (the misses take a while on moto).
	assert.NotEmpty(t, base, "an old state is re-checked")
	assert.LessOrEqual(t, len(base), 1+int(elapsed/recheck), "at most one re-check per %v in %v", recheck, elapsed)
	assert.Less(t, len(base), 10, "20 misses")
}

// Unscoped reads (the projector, billing, the CLI) use the backend's own client
// and read the generation state every time.
func TestUnscopedReadsUseTheBaseClient(t *testing.T) {
	s := newScopedBackend(t, time.Hour)
	s.put(t, 1, "t1", "a", "1")
	from := len(s.policy.Calls())
	for range 2 {
		_, err := s.Get(context.Background(), "p", "t1", "c", "a")
		require.NoError(t, err)
		_, err = s.List(context.Background(), "p", projections.PlatformTenant, "c", "", 0)
		require.NoError(t, err)
	}
	tenant, base := s.calls(from)
	assert.Empty(t, tenant)
	assert.Len(t, base, 8, "a state read and a query per read")
	assert.Empty(t, s.asked, "no tenant client was asked for")
}

// A scoped context reads only its own tenant, and everything that is not a query
// is platform work: all of it is refused before any call.
func TestScopedContextRefusesOtherTenantsAndPlatformWork(t *testing.T) {
	s := newScopedBackend(t, time.Minute)
	s.put(t, 1, "t2", "a", "1")
	ctx := events.WithTenantScope(context.Background(), "t1")
	from := len(s.policy.Calls())
	tests := []struct {
		name string
		run  func() error
	}{
		{"get another tenant's value", func() error { _, err := s.Get(ctx, "p", "t2", "c", "a"); return err }},
		{"list another tenant's values", func() error { _, err := s.List(ctx, "p", "t2", "c", "", 0); return err }},
		{"list the platform's directory", func() error {
			_, err := s.List(ctx, "tenants", projections.PlatformTenant, "tenants", "", 0)
			return err
		}},
		{"begin a transaction", func() error { _, err := s.Begin(ctx); return err }},
		{"parked events", func() error { _, err := s.Parked(ctx, "p"); return err }},
		{"dump", func() error { _, err := s.Dump(ctx, "p"); return err }},
		{"drop generations", func() error { return s.DropGenerations(ctx, "p", "t1", 2) }},
		{"discard a generation", func() error { return s.DiscardGeneration(ctx, "p", 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.run(), events.ErrOutOfScope)
		})
	}
	tenant, base := s.calls(from)
	assert.Empty(t, tenant)
	assert.Empty(t, base)
}

func TestTenantClientFailureFailsTheRead(t *testing.T) {
	b, err := dynamodb.New(ddb.NewFromConfig(awstest.Shared(t).Config()), dynamodb.Options{Table: "unused",
		TenantClients: func(context.Context, events.TenantID) (dynamodb.Client, error) {
			return nil, errors.New("assume tenant role: AccessDenied")
		}})
	require.NoError(t, err)
	_, err = b.Get(events.WithTenantScope(context.Background(), "t1"), "p", "t1", "c", "a")
	require.ErrorContains(t, err, "client of tenant t1: assume tenant role: AccessDenied")
}
