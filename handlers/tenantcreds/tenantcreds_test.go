package tenantcreds_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/tenantcreds"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const roleARN = "arn:aws:iam::123456789012:role/tenantstream-tenant"

// fakeSTS issues numbered credentials valid for the requested duration on clk.
type fakeSTS struct {
	clk   clock.Clock
	calls atomic.Int64
	mu    sync.Mutex
	ins   []*sts.AssumeRoleInput
	err   error
	delay time.Duration
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	f.ins = append(f.ins, in)
	f.mu.Unlock()
	time.Sleep(f.delay)
	if f.err != nil {
		return nil, f.err
	}
	exp := f.clk.Now().Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second)
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String(fmt.Sprintf("AKIA%d", n)), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: &exp,
	}}, nil
}

func TestCachesPerTenantUntilShortlyBeforeExpiry(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	fake := &fakeSTS{clk: clk}
	v, err := tenantcreds.New(fake, tenantcreds.Options{RoleARN: roleARN, Clock: clk})
	require.NoError(t, err)
	ctx := context.Background()

	steps := []struct {
		name    string
		advance time.Duration
		tenant  string
		wantKey string
	}{
		{"first call assumes the role", 0, "t1", "AKIA1"},
		{"second call is cached", time.Minute, "t1", "AKIA1"},
		{"another tenant gets its own session", 0, "t2", "AKIA2"},
		{"still cached just outside the margin", 8*time.Minute + 59*time.Second, "t1", "AKIA1"},
		{"refreshed inside the 5 minute margin", 2 * time.Second, "t1", "AKIA3"},
		{"the other tenant's cache is untouched", 0, "t2", "AKIA2"},
	}
	for _, s := range steps {
		if s.advance > 0 {
			require.NoError(t, clk.Set(clk.Now().Add(s.advance)))
		}
		c, err := v.Retrieve(ctx, s.tenant)
		require.NoError(t, err, s.name)
		assert.Equal(t, s.wantKey, c.AccessKeyID, s.name)
		assert.True(t, c.CanExpire, s.name)
	}
	require.Len(t, fake.ins, 3)
	in := fake.ins[1]
	assert.Equal(t, roleARN, aws.ToString(in.RoleArn))
	assert.Equal(t, "tenant-t2", aws.ToString(in.RoleSessionName))
	assert.Equal(t, int32(900), aws.ToInt32(in.DurationSeconds))
	require.Len(t, in.Tags, 1)
	assert.Equal(t, "TenantId", aws.ToString(in.Tags[0].Key))
	assert.Equal(t, "t2", aws.ToString(in.Tags[0].Value))
}

func TestConcurrentCallersShareOneAssumeRole(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	fake := &fakeSTS{clk: clk, delay: 20 * time.Millisecond}
	v, err := tenantcreds.New(fake, tenantcreds.Options{RoleARN: roleARN, Clock: clk})
	require.NoError(t, err)
	var wg sync.WaitGroup
	keys := make([]string, 64)
	for i := range keys {
		wg.Go(func() {
			c, err := v.Provider(fmt.Sprintf("tenant%d", i%4)).Retrieve(context.Background())
			assert.NoError(t, err)
			keys[i] = c.AccessKeyID
		})
	}
	wg.Wait()
	assert.Equal(t, int64(4), fake.calls.Load(), "one AssumeRole per tenant")
	for i := range keys {
		assert.Equal(t, keys[i%4], keys[i])
	}
}

func TestErrorsAreNotCachedAndBadTenantsRefused(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	fake := &fakeSTS{clk: clk, err: errors.New("AccessDenied")}
	v, err := tenantcreds.New(fake, tenantcreds.Options{RoleARN: roleARN, Clock: clk})
	require.NoError(t, err)
	_, err = v.Retrieve(context.Background(), "t1")
	require.ErrorContains(t, err, "assume tenant role for t1")
	fake.err = nil
	c, err := v.Retrieve(context.Background(), "t1")
	require.NoError(t, err)
	assert.Equal(t, "AKIA2", c.AccessKeyID)

	for _, bad := range []string{"", "a b", "t/1", "x" + string(make([]byte, 60))} {
		_, err := v.Retrieve(context.Background(), bad)
		assert.ErrorIs(t, err, tenantcreds.ErrInvalidTenant, "%q", bad)
	}
	_, err = tenantcreds.New(fake, tenantcreds.Options{RoleARN: roleARN, Duration: 15 * time.Minute, RefreshBefore: 15 * time.Minute})
	assert.Error(t, err)
}

// recordingSTS passes calls to a real STS client and keeps the inputs.
type recordingSTS struct {
	*sts.Client
	mu  sync.Mutex
	ins []*sts.AssumeRoleInput
}

func (r *recordingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	r.mu.Lock()
	r.ins = append(r.ins, in)
	r.mu.Unlock()
	return r.Client.AssumeRole(ctx, in, opts...)
}

// On moto: the vended credentials are an assumed-role session named after the
// tenant (GetCallerIdentity signed with them says so), the TenantId tag is sent,
// and a second request reuses the cached session.
func TestAssumeRoleOnMoto(t *testing.T) {
	moto := awstest.Shared(t)
	ctx := context.Background()
	require.NoError(t, moto.Reset(ctx))
	base := moto.Config()
	rec := &recordingSTS{Client: sts.NewFromConfig(base)}
	v, err := tenantcreds.New(rec, tenantcreds.Options{RoleARN: roleARN})
	require.NoError(t, err)

	const tenant = "0196f2b4-1c2d-7000-8000-00000000abcd"
	c1, err := v.Retrieve(ctx, tenant)
	require.NoError(t, err)
	assert.NotEqual(t, "testing", c1.AccessKeyID)
	assert.True(t, c1.Expires.After(time.Now().Add(10*time.Minute)))

	who, err := sts.NewFromConfig(v.Config(base, tenant)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:sts::123456789012:assumed-role/tenantstream-tenant/tenant-"+tenant, aws.ToString(who.Arn))

	c2, err := v.Retrieve(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, c1.AccessKeyID, c2.AccessKeyID)
	require.Len(t, rec.ins, 1)
	assert.Equal(t, []ststypes.Tag{{Key: aws.String("TenantId"), Value: aws.String(tenant)}}, rec.ins[0].Tags)
}

// Clients builds one client per tenant, with the vendor's credentials for that
// tenant, and hands the same one out afterwards, also under concurrent use.
func TestClientsOnePerTenantWithItsCredentials(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	fake := &fakeSTS{clk: clk}
	v, err := tenantcreds.New(fake, tenantcreds.Options{RoleARN: roleARN, Clock: clk})
	require.NoError(t, err)
	type client struct {
		tenant string
		cfg    aws.Config
	}
	var built atomic.Int64
	clients := tenantcreds.NewClients(v, aws.Config{Region: "eu-west-1"}, func(tenant string, cfg aws.Config) *client {
		built.Add(1)
		return &client{tenant: tenant, cfg: cfg}
	})

	var wg sync.WaitGroup
	got := make([]*client, 32)
	for i := range got {
		wg.Go(func() {
			c, err := clients.For(fmt.Sprintf("tenant%d", i%2))
			assert.NoError(t, err)
			got[i] = c
		})
	}
	wg.Wait()
	assert.Equal(t, int64(2), built.Load(), "one client per tenant")
	for i := range got {
		assert.Same(t, got[i%2], got[i])
	}
	assert.NotSame(t, got[0], got[1])

	ctx := context.Background()
	for i, c := range got[:2] {
		assert.Equal(t, fmt.Sprintf("tenant%d", i), c.tenant)
		assert.Equal(t, "eu-west-1", c.cfg.Region, "the base configuration is kept")
		creds, err := c.cfg.Credentials.Retrieve(ctx)
		require.NoError(t, err)
		assert.Equal(t, "tenantcreds", creds.Source)
		fake.mu.Lock()
		last := fake.ins[len(fake.ins)-1]
		fake.mu.Unlock()
		assert.Equal(t, fmt.Sprintf("tenant-tenant%d", i), aws.ToString(last.RoleSessionName), "the tenant's own session")
	}

	_, err = clients.For("a/b")
	require.ErrorIs(t, err, tenantcreds.ErrInvalidTenant)
	assert.Equal(t, int64(2), built.Load())
}
