package cognito_test

import (
	"context"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	cmdidentity "github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
	"github.com/tenantstream/tenantstream/projections"
)

func TestMain(m *testing.M) { awstest.Main(m) }

type env struct {
	svc    *commands.Service
	logins *commands.Auth
	signIn *cognito.SignIn
	ver    *auth.Verifier
	pool   cognito.Pool
	dir    *cognito.Directory
	// client is moto's Cognito through calls, which plays RevokeToken and
	// records every call (awstest.TokenRevocation).
	client *cip.Client
	calls  *awstest.TokenRevocation
}

func newEnv(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	calls := &awstest.TokenRevocation{}
	client := cip.NewFromConfig(moto.Config(), func(o *cip.Options) { o.APIOptions = append(o.APIOptions, calls.Middleware()) })
	pool, err := cognito.CreatePool(ctx, client, "tenantstream-test")
	require.NoError(t, err)
	require.NoError(t, calls.LearnClient(ctx, client, pool.UserPoolID, pool.ClientID))
	store := memstore.New()
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend()})
	require.NoError(t, err)
	// Onboarding hashes a verifier for its name reservation even with Cognito.
	hasher, err := cmdidentity.NewHasher(cmdidentity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	dir := &cognito.Directory{Client: client, UserPoolID: pool.UserPoolID}
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clock.System{}, Plans: commands.Catalog{Catalog: catalog.Default()},
		Users: dir, Passwords: hasher}
	ver, err := cognito.NewVerifier(cognito.VerifierConfig{Region: awstest.Region, UserPoolID: pool.UserPoolID, ClientIDs: []string{pool.ClientID},
		JWKSURL: cognito.JWKSURL(moto.Endpoint, pool.UserPoolID)})
	require.NoError(t, err)
	signIn := &cognito.SignIn{Client: client, ClientID: pool.ClientID}
	logins := &commands.Auth{Service: svc, SignIn: signIn, Refresher: signIn, Revoker: &cognito.Revoker{Client: client, ClientID: pool.ClientID}}
	return env{svc: svc, logins: logins, signIn: signIn, ver: ver, pool: pool, dir: dir, client: client, calls: calls}
}

// The whole identity flow on moto: onboarding and AddUser create Cognito users,
// logins return Cognito's tokens, the verifier accepts them with the real AWS
// issuer and moto's JWKS, and the principal carries tenant and role.
func TestOnboardLoginVerifyRefreshOnMoto(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.svc.Onboard(ctx, commands.Meta{IdempotencyKey: "k"}, commands.Onboard{TenantName: "Acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	_, err = e.svc.Onboard(ctx, commands.Meta{IdempotencyKey: "k"}, commands.Onboard{TenantName: "Acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err, "a retried onboarding completes against the existing Cognito user")

	tok, err := e.logins.Login(ctx, commands.Login{TenantName: "acme", Email: "Admin@acme.test", Password: "Sup3r-secret!", ClientIP: "192.0.2.1"})
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.Positive(t, tok.ExpiresIn)

	p, err := e.ver.Verify(ctx, tok.IDToken)
	require.NoError(t, err)
	assert.Equal(t, out.TenantID, p.TenantID)
	assert.Equal(t, []string{identity.RoleTenantAdmin}, p.Roles)
	assert.Equal(t, "admin@acme.test", p.Email)

	// A token of another app client, or another issuer, is refused.
	other, err := cognito.NewVerifier(cognito.VerifierConfig{Region: "eu-west-1", UserPoolID: e.pool.UserPoolID, ClientIDs: []string{e.pool.ClientID},
		JWKSURL: cognito.JWKSURL(awstest.Shared(t).Endpoint, e.pool.UserPoolID)})
	require.NoError(t, err)
	_, err = other.Verify(ctx, tok.IDToken)
	require.ErrorIs(t, err, auth.ErrWrongIssuer)

	member, err := e.svc.AddUser(ctx, commands.Meta{Principal: p}, commands.AddUser{Tenant: out.TenantID, Email: "bob@acme.test", Password: "B0b-secret-pass"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	mt, err := e.logins.Login(ctx, commands.Login{TenantName: "Acme", Email: "bob@acme.test", Password: "B0b-secret-pass"})
	require.NoError(t, err)
	mp, err := e.ver.Verify(ctx, mt.IDToken)
	require.NoError(t, err)
	assert.Equal(t, out.TenantID, mp.TenantID)
	assert.Equal(t, []string{identity.RoleTenantMember}, mp.Roles)
	assert.NotEmpty(t, member.UserID)

	refreshed, err := e.logins.Refresh(ctx, tok.RefreshToken)
	require.NoError(t, err)
	assert.Empty(t, refreshed.RefreshToken)
	rp, err := e.ver.Verify(ctx, refreshed.IDToken)
	require.NoError(t, err)
	assert.Equal(t, p.TenantID, rp.TenantID)

	_, err = e.logins.Refresh(ctx, "not-a-refresh-token")
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "Globex", Email: "admin@globex.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	_, err = e.svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "Initech", Email: "peter@initech.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	tests := []struct {
		name string
		in   commands.Login
		code domain.Code
	}{
		{"wrong password", commands.Login{TenantName: "Globex", Email: "admin@globex.test", Password: "wrong-Passw0rd!"}, domain.CodeUnauthenticated},
		{"unknown user", commands.Login{TenantName: "Globex", Email: "nobody@globex.test", Password: "Sup3r-secret!"}, domain.CodeUnauthenticated},
		{"unknown tenant", commands.Login{TenantName: "Hooli", Email: "admin@globex.test", Password: "Sup3r-secret!"}, domain.CodeUnauthenticated},
		{"user of another tenant", commands.Login{TenantName: "Globex", Email: "peter@initech.test", Password: "Sup3r-secret!"}, domain.CodeUnauthenticated},
		{"missing password", commands.Login{TenantName: "Globex", Email: "admin@globex.test"}, domain.CodeInvalid},
	}
	var msg string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.logins.Login(ctx, tc.in)
			require.Error(t, err)
			assert.Equal(t, tc.code, domain.ErrorCode(err))
			if tc.code == domain.CodeUnauthenticated {
				var de *domain.Error
				require.ErrorAs(t, err, &de)
				if msg == "" {
					msg = de.Message
				}
				assert.Equal(t, msg, de.Message, "failures must not tell which part was wrong")
			}
		})
	}
}

func TestThrottleStopsRepeatedFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "Umbrella", Email: "admin@umbrella.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	e.logins.Throttle = cmdidentity.NewThrottle(clock.NewTest(time.Now()))
	var last error
	for range 20 {
		_, last = e.logins.Login(ctx, commands.Login{TenantName: "Umbrella", Email: "admin@umbrella.test", Password: "wrong-Passw0rd!", ClientIP: "192.0.2.9"})
		if domain.ErrorCode(last) == domain.CodeRateLimited {
			break
		}
	}
	assert.Equal(t, domain.CodeRateLimited, domain.ErrorCode(last))
}

func TestUsernameIsPerTenantAndShort(t *testing.T) {
	a := cognito.Username("0196f2b4-0000-7000-8000-000000000001", "a@x.test")
	b := cognito.Username("0196f2b4-0000-7000-8000-000000000002", "a@x.test")
	assert.NotEqual(t, a, b)
	assert.LessOrEqual(t, len(cognito.Username("0196f2b4-0000-7000-8000-000000000001", string(make([]byte, 254)))), 128)
}
