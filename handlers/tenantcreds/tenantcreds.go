package tenantcreds

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/tenantstream/tenantstream/domain/clock"
)

// TagKey is the session tag the tenant role's policy reads as
// aws:PrincipalTag/TenantId to restrict dynamodb:LeadingKeys (docs/ARCHITECTURE.md, decision 9d).
const TagKey = "TenantId"

// AssumeRoleAPI is the STS call the Vendor makes; *sts.Client is one.
type AssumeRoleAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var _ AssumeRoleAPI = (*sts.Client)(nil)

// Options configures a Vendor.
type Options struct {
	// RoleARN is the tenant role; its trust policy must allow sts:AssumeRole and
	// sts:TagSession for the Lambda's execution role.
	RoleARN string
	// Duration of each session; 0: 15 minutes (STS's minimum).
	Duration time.Duration
	// RefreshBefore is how long before expiry cached credentials are replaced;
	// 0: 5 minutes, so a request never starts with credentials about to lapse.
	RefreshBefore time.Duration
	Clock         clock.Clock // nil: clock.System
}

// Vendor hands out credentials per tenant. It is safe for concurrent use:
// callers for one tenant share a single AssumeRole call while others proceed.
type Vendor struct {
	sts  AssumeRoleAPI
	opts Options

	mu      sync.Mutex
	tenants map[string]*entry
}

type entry struct {
	mu    sync.Mutex // held during AssumeRole, so concurrent misses make one call
	creds aws.Credentials
}

// tenantPattern keeps tenant ids inside what a session name and a tag value
// accept; our ids are UUIDs.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@=+-]{0,55}$`)

// ErrInvalidTenant is returned for a tenant id that cannot name a session.
var ErrInvalidTenant = errors.New("tenantcreds: invalid tenant id")

// New returns a Vendor calling client.
func New(client AssumeRoleAPI, opts Options) (*Vendor, error) {
	if client == nil || opts.RoleARN == "" {
		return nil, errors.New("new tenant credentials vendor: an STS client and a role ARN are required")
	}
	if opts.Duration <= 0 {
		opts.Duration = 15 * time.Minute
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = 5 * time.Minute
	}
	if opts.RefreshBefore >= opts.Duration {
		return nil, fmt.Errorf("new tenant credentials vendor: refresh margin %s must be shorter than the session %s", opts.RefreshBefore, opts.Duration)
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	return &Vendor{sts: client, opts: opts, tenants: map[string]*entry{}}, nil
}

// SessionName is the role session name for a tenant; it shows in CloudTrail.
func SessionName(tenant string) string { return "tenant-" + tenant }

// Retrieve returns the tenant's credentials, assuming the role when none are
// cached or the cached ones expire within the refresh margin.
func (v *Vendor) Retrieve(ctx context.Context, tenant string) (aws.Credentials, error) {
	if !tenantPattern.MatchString(tenant) {
		return aws.Credentials{}, fmt.Errorf("%w: %q", ErrInvalidTenant, tenant)
	}
	v.mu.Lock()
	e, ok := v.tenants[tenant]
	if !ok {
		e = &entry{}
		v.tenants[tenant] = e
	}
	v.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := v.opts.Clock.Now()
	if e.creds.HasKeys() && now.Before(e.creds.Expires.Add(-v.opts.RefreshBefore)) {
		return e.creds, nil
	}
	out, err := v.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(v.opts.RoleARN),
		RoleSessionName: aws.String(SessionName(tenant)),
		DurationSeconds: aws.Int32(int32(v.opts.Duration / time.Second)),
		Tags:            []ststypes.Tag{{Key: aws.String(TagKey), Value: aws.String(tenant)}},
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("assume tenant role for %s: %w", tenant, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.Expiration == nil {
		return aws.Credentials{}, fmt.Errorf("assume tenant role for %s: no credentials in the answer", tenant)
	}
	e.creds = aws.Credentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken),
		Source: "tenantcreds", CanExpire: true, Expires: *c.Expiration,
	}
	return e.creds, nil
}

// Provider returns an aws.CredentialsProvider for one tenant.
func (v *Vendor) Provider(tenant string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		return v.Retrieve(ctx, tenant)
	})
}

// Config returns base with the tenant's credentials, for building SDK clients
// that act for that tenant only.
func (v *Vendor) Config(base aws.Config, tenant string) aws.Config {
	cfg := base.Copy()
	cfg.Credentials = v.Provider(tenant)
	return cfg
}

// Clients keeps one SDK client per tenant, made from Vendor.Config: building a
// client costs far more than a request should pay, and a client needs no renewal
// because its credentials provider is the vendor's, which refreshes them before
// they expire. It keeps a client for every tenant the process has served, as
// the vendor keeps their credentials. It is safe for concurrent use.
type Clients[C any] struct {
	vendor *Vendor
	base   aws.Config
	build  func(tenant string, cfg aws.Config) C

	mu sync.Mutex
	m  map[string]C
}

// NewClients returns a cache of clients built by build (around
// dynamodb.NewFromConfig, say) from base with each tenant's credentials.
func NewClients[C any](v *Vendor, base aws.Config, build func(tenant string, cfg aws.Config) C) *Clients[C] {
	return &Clients[C]{vendor: v, base: base, build: build, m: map[string]C{}}
}

// For returns the tenant's client, building it on first use; a tenant id that
// cannot name a session is ErrInvalidTenant.
func (c *Clients[C]) For(tenant string) (C, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.m[tenant]; ok {
		return cl, nil
	}
	if !tenantPattern.MatchString(tenant) {
		var zero C
		return zero, fmt.Errorf("%w: %q", ErrInvalidTenant, tenant)
	}
	cl := c.build(tenant, c.vendor.Config(c.base, tenant))
	c.m[tenant] = cl
	return cl, nil
}
