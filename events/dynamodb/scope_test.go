package dynamodb_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/handlers/awstest"
)

// countingClient counts the calls made through it and, for a tenant's client,
// lets the tenant role's policy (awstest.LeadingKeys) refuse them first.
type countingClient struct {
	inner dynamodb.Client
	calls atomic.Int64
	// By kind: reads (GetItem, Query), writes (PutItem) and transactions, with
	// the items the transactions wrote.
	reads, writes, txs, txItems atomic.Int64
	check                       func(in any) error // nil: the execution role, unrestricted
}

func (c *countingClient) before(in any) error {
	c.calls.Add(1)
	switch in := in.(type) {
	case *ddb.GetItemInput, *ddb.QueryInput:
		c.reads.Add(1)
	case *ddb.PutItemInput:
		c.writes.Add(1)
	case *ddb.TransactWriteItemsInput:
		c.txs.Add(1)
		c.txItems.Add(int64(len(in.TransactItems)))
	}
	if c.check != nil {
		return c.check(in)
	}
	return nil
}

func (c *countingClient) GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	if err := c.before(in); err != nil {
		return nil, err
	}
	return c.inner.GetItem(ctx, in, opts...)
}

func (c *countingClient) PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	if err := c.before(in); err != nil {
		return nil, err
	}
	return c.inner.PutItem(ctx, in, opts...)
}

func (c *countingClient) Query(ctx context.Context, in *ddb.QueryInput, opts ...func(*ddb.Options)) (*ddb.QueryOutput, error) {
	if err := c.before(in); err != nil {
		return nil, err
	}
	return c.inner.Query(ctx, in, opts...)
}

func (c *countingClient) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	if err := c.before(in); err != nil {
		return nil, err
	}
	return c.inner.TransactWriteItems(ctx, in, opts...)
}

// scopedStore is a store on the fake whose tenant clients play the tenant role.
type scopedStore struct {
	store   *dynamodb.Store
	base    *countingClient
	policy  *awstest.LeadingKeys
	mu      sync.Mutex
	tenants map[events.TenantID]*countingClient
	fail    error // returned by the factory when set
}

func newScopedStore(t *testing.T) *scopedStore {
	t.Helper()
	fake := newFakeDynamo()
	require.NoError(t, dynamodb.CreateTable(context.Background(), fake, "events"))
	s := &scopedStore{base: &countingClient{inner: fake}, tenants: map[events.TenantID]*countingClient{},
		policy: &awstest.LeadingKeys{Resources: map[string]string{"events": "PK", "events/index/" + dynamodb.TenantIndex: "GSI1PK"}}}
	s.store = dynamodb.New(s.base, "events", dynamodb.WithTenantClients(func(_ context.Context, tenant events.TenantID) (dynamodb.Client, error) {
		if s.fail != nil {
			return nil, s.fail
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		c, ok := s.tenants[tenant]
		if !ok {
			c = &countingClient{inner: fake, check: func(in any) error { return s.policy.Authorize(string(tenant), in) }}
			s.tenants[tenant] = c
		}
		return c, nil
	}))
	return s
}

func (s *scopedStore) tenantCalls(tenant events.TenantID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.tenants[tenant]; ok {
		return c.calls.Load()
	}
	return 0
}

// ops are every Store operation a tenant request makes, on the given tenant.
func tenantOps(s *dynamodb.Store, tenant events.TenantID) []struct {
	name string
	run  func(ctx context.Context) error
} {
	type op = struct {
		name string
		run  func(ctx context.Context) error
	}
	appendReq := func(req events.AppendRequest) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			req.Tenant = tenant
			_, err := s.Append(ctx, req)
			return err
		}
	}
	return []op{
		{"append a new stream", appendReq(events.AppendRequest{Stream: "s1", Expected: events.NoStream, Events: newEvents(2, false)})},
		{"append at an exact version", appendReq(events.AppendRequest{Stream: "s1", Expected: events.Exactly(2), Events: newEvents(1, false)})},
		{"append at any version with a key", appendReq(events.AppendRequest{Stream: "s1", Expected: events.AnyVersion, IdempotencyKey: "k1", Events: newEvents(1, false)})},
		{"the same key again (duplicate)", appendReq(events.AppendRequest{Stream: "s1", Expected: events.AnyVersion, IdempotencyKey: "k1", Events: newEvents(1, false)})},
		{"append skipping duplicate ids", appendReq(events.AppendRequest{Stream: "u", Expected: events.AnyVersion, SkipDuplicateIDs: true, Events: newEvents(2, true)})},
		{"append claiming keys", appendReq(events.AppendRequest{Stream: "u", Expected: events.AnyVersion, ClaimKeys: []string{"r1"}, Events: newEvents(1, false)})},
		{"look up an idempotency key", func(ctx context.Context) error {
			_, found, err := s.Idempotency(ctx, tenant, "k1")
			if err == nil && !found {
				return errors.New("key k1 not found")
			}
			return err
		}},
		{"claimed keys", func(ctx context.Context) error {
			_, err := s.ClaimedKeys(ctx, tenant, []string{"r1", "r2"})
			return err
		}},
		{"load", func(ctx context.Context) error { _, err := s.Load(ctx, tenant, "s1", 2); return err }},
		{"load a missing stream", func(ctx context.Context) error {
			_, err := s.Load(ctx, tenant, "nothing", 3)
			if errors.Is(err, events.ErrNotFound) {
				return nil
			}
			return err
		}},
		{"read tenant history", func(ctx context.Context) error {
			p, err := s.ReadTenant(ctx, tenant, "", events.ReadOptions{Limit: 2})
			if err == nil {
				_, err = s.ReadTenant(ctx, tenant, p.Next, events.ReadOptions{})
			}
			return err
		}},
	}
}

// In a context scoped to a tenant every operation on that tenant goes through
// the tenant's client, and the tenant role's policy allows every call.
func TestScopedOperationsUseTheTenantClient(t *testing.T) {
	t.Parallel()
	s := newScopedStore(t)
	ctx := events.WithTenantScope(context.Background(), "t1")
	for _, op := range tenantOps(s.store, "t1") {
		before := s.tenantCalls("t1")
		require.NoError(t, op.run(ctx), op.name)
		assert.Greater(t, s.tenantCalls("t1"), before, "%s used the tenant's client", op.name)
	}
	assert.Zero(t, s.base.calls.Load(), "nothing went through the execution role")
	assert.Empty(t, s.policy.Denied(), "the tenant role allows every call")
	assert.Zero(t, s.tenantCalls("t2"))

	// What the tenant wrote is the store's ordinary data.
	page, err := s.store.ReadAll(context.Background(), "", events.ReadOptions{})
	require.NoError(t, err)
	assert.Len(t, page.Events, 7)
}

// Unscoped operations (platform work) use the store's own client, whatever the tenant.
func TestUnscopedOperationsUseTheBaseClient(t *testing.T) {
	t.Parallel()
	s := newScopedStore(t)
	for _, op := range tenantOps(s.store, "t1") {
		require.NoError(t, op.run(context.Background()), op.name)
	}
	_, err := s.store.ReadAll(context.Background(), "", events.ReadOptions{})
	require.NoError(t, err)
	assert.Positive(t, s.base.calls.Load())
	assert.Empty(t, s.tenants, "no tenant client was asked for")
}

// A context scoped to one tenant never reaches another tenant's keys, nor the
// platform-wide registry: the store refuses before any call.
func TestScopedContextRefusesOtherTenants(t *testing.T) {
	t.Parallel()
	s := newScopedStore(t)
	for _, op := range tenantOps(s.store, "t2") {
		require.NoError(t, op.run(context.Background()), op.name) // t2's data exists
	}
	baseCalls := s.base.calls.Load()
	ctx := events.WithTenantScope(context.Background(), "t1")
	ops := tenantOps(s.store, "t2")
	ops = append(ops, struct {
		name string
		run  func(ctx context.Context) error
	}{"read all", func(ctx context.Context) error { _, err := s.store.ReadAll(ctx, "", events.ReadOptions{}); return err }})
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			err := op.run(ctx)
			require.ErrorIs(t, err, events.ErrOutOfScope)
		})
	}
	assert.Equal(t, baseCalls, s.base.calls.Load(), "no call went out")
	assert.Zero(t, s.tenantCalls("t1"))
	assert.Zero(t, s.tenantCalls("t2"))
}

// Without a tenant client factory a scoped context still cannot leave its tenant.
func TestScopeIsCheckedWithoutTenantClients(t *testing.T) {
	t.Parallel()
	s := fakeStores(t, nil)[0]
	ctx := events.WithTenantScope(context.Background(), "t1")
	_, err := s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.NoStream, Events: newEvents(1, false)})
	require.NoError(t, err)
	_, err = s.Load(ctx, "t2", "s", 1)
	require.ErrorIs(t, err, events.ErrOutOfScope)
}

func TestTenantClientFailureFailsTheOperation(t *testing.T) {
	t.Parallel()
	s := newScopedStore(t)
	s.fail = errors.New("assume tenant role: AccessDenied")
	_, err := s.store.Load(events.WithTenantScope(context.Background(), "t1"), "t1", "s", 1)
	require.ErrorContains(t, err, "client of tenant t1: assume tenant role: AccessDenied")
	assert.Zero(t, s.base.calls.Load(), "never falls back to the execution role")
}
