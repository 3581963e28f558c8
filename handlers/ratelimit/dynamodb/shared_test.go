package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
	rlddb "github.com/tenantstream/tenantstream/handlers/ratelimit/dynamodb"
	pjddb "github.com/tenantstream/tenantstream/projections/dynamodb"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// countingClient counts UpdateItem calls: each is one write unit (the item is
// far under 1 KB), refused or not.
type countingClient struct {
	rlddb.Client
	updates atomic.Int64
	fail    atomic.Bool
}

func (c *countingClient) UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error) {
	if c.fail.Load() {
		return nil, errors.New("throttled")
	}
	c.updates.Add(1)
	return c.Client.UpdateItem(ctx, in, opts...)
}

// instances are n api instances sharing one table, as the api function's are.
func instances(t *testing.T, n int) ([]*rlddb.Shared, *countingClient, *clock.Test) {
	t.Helper()
	cfg := awstest.Shared(t).Config()
	db := ddb.NewFromConfig(cfg)
	table := fmt.Sprintf("ratelimit-%d", time.Now().UnixNano())
	require.NoError(t, pjddb.CreateTable(context.Background(), db, table))
	clk := clock.NewTest(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	c := &countingClient{Client: db}
	out := make([]*rlddb.Shared, n)
	for i := range out {
		out[i] = &rlddb.Shared{Table: table, Clock: clk, Local: ratelimit.NewKeyed(clk, 0), Log: slog.New(slog.DiscardHandler),
			Clients: func(context.Context, string) (rlddb.Client, error) { return c, nil }}
	}
	return out, c, clk
}

// Two instances take from one bucket: together they admit the burst, less at
// most what each still holds of its lease, and never more; refusals say when
// to retry. Another tenant's bucket is its own.
func TestInstancesShareATenantsBucket(t *testing.T) {
	in, _, _ := instances(t, 2)
	ctx := context.Background()
	r := ratelimit.Rate{N: 1, Per: time.Minute, Burst: 20} // leases of 2
	allowed := 0
	var last ratelimit.Decision
	for i := range 40 {
		d := in[i%2].TakeTenant(ctx, "acme", "read", r)
		if d.Allowed {
			allowed++
		} else {
			last = d
		}
	}
	assert.LessOrEqual(t, allowed, 20, "never more than the burst across instances")
	assert.GreaterOrEqual(t, allowed, 20-2*2, "at most a lease per instance unused")
	assert.Positive(t, last.RetryAfter)
	assert.LessOrEqual(t, last.RetryAfter, time.Minute)

	assert.True(t, in[1].TakeTenant(ctx, "globex", "read", r).Allowed, "another tenant's bucket")
	assert.True(t, in[0].TakeTenant(ctx, "acme", "write", r).Allowed, "another policy's bucket")
}

// A request at another rate (a plan change) starts the bucket full at that
// rate on the next request, on every instance.
func TestSharedRateChangeAppliesAtOnce(t *testing.T) {
	in, _, _ := instances(t, 2)
	ctx := context.Background()
	free := ratelimit.Rate{N: 1, Per: time.Minute, Burst: 3}
	for range 6 {
		in[0].TakeTenant(ctx, "acme", "read", free)
	}
	require.False(t, in[1].TakeTenant(ctx, "acme", "read", free).Allowed)
	paid := ratelimit.Rate{N: 100, Per: time.Second, Burst: 100}
	for i := range 50 {
		require.True(t, in[i%2].TakeTenant(ctx, "acme", "read", paid).Allowed, "paid request %d", i)
	}
}

// What the shared bucket costs: a lease of a tenth of the burst per write, so
// 200 requests at a burst of 100 write about 20 times (0.1 WRU a request),
// and a flood of refusals writes about twice per Retry-After per instance,
// not once per request.
func TestSharedBucketWritesPerRequest(t *testing.T) {
	in, c, _ := instances(t, 1)
	ctx := context.Background()
	r := ratelimit.Rate{N: 1000, Per: time.Second, Burst: 100}
	for range 100 {
		require.True(t, in[0].TakeTenant(ctx, "acme", "write", r).Allowed)
	}
	w := c.updates.Load()
	t.Logf("100 admitted requests: %d UpdateItems (%.2f WRU a request)", w, float64(w)/100)
	assert.LessOrEqual(t, w, int64(14), "about one write per lease of 10")

	slow := ratelimit.Rate{N: 1, Per: time.Hour, Burst: 10}
	for range 10 {
		in[0].TakeTenant(ctx, "flood", "read", slow)
	}
	before := c.updates.Load()
	refused := 0
	for range 1000 {
		if !in[0].TakeTenant(ctx, "flood", "read", slow).Allowed {
			refused++
		}
	}
	t.Logf("1000 refused requests: %d UpdateItems", c.updates.Load()-before)
	assert.Equal(t, 1000, refused)
	assert.LessOrEqual(t, c.updates.Load()-before, int64(2), "a refusal is remembered until its Retry-After")
}

// When DynamoDB fails the instance limits on its own: never unlimited.
func TestSharedFallsBackToTheInstanceLimit(t *testing.T) {
	in, c, _ := instances(t, 1)
	ctx := context.Background()
	c.fail.Store(true)
	r := ratelimit.Rate{N: 1, Per: time.Hour, Burst: 3}
	allowed := 0
	for range 10 {
		if in[0].TakeTenant(ctx, "acme", "read", r).Allowed {
			allowed++
		}
	}
	assert.Equal(t, 3, allowed)
}
