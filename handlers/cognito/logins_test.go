package cognito_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	cmdidentity "github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

// countingAuth counts the password checks sent to Cognito (each taking a while,
// as a round trip does), or answers TooManyRequests while throttled is set.
type countingAuth struct {
	cognito.API
	calls     atomic.Int64
	throttled atomic.Bool
}

func (c *countingAuth) InitiateAuth(ctx context.Context, in *cip.InitiateAuthInput, opts ...func(*cip.Options)) (*cip.InitiateAuthOutput, error) {
	if c.throttled.Load() {
		return nil, &types.TooManyRequestsException{}
	}
	c.calls.Add(1)
	time.Sleep(20 * time.Millisecond)
	return c.API.InitiateAuth(ctx, in, opts...)
}

// The AWS login path applies the same throttle as the local one: 40 simultaneous
// wrong passwords reach Cognito at most the pair's allowance of times, and an
// attempt Cognito never checked (its own rate limit) is not a failure.
func TestLoginsReserveAttemptsBeforeCognitoChecks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "Wayne", Email: "bruce@wayne.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	api := &countingAuth{API: e.signIn.Client}
	e.signIn.Client = api
	e.logins.Throttle = cmdidentity.NewThrottle(clock.NewTest(time.Now()))
	login := func(password string) error {
		_, err := e.logins.Login(ctx, commands.Login{TenantName: "Wayne", Email: "bruce@wayne.test", Password: password, ClientIP: "192.0.2.44"})
		return err
	}

	api.throttled.Store(true)
	for range 10 {
		assert.Equal(t, domain.CodeRateLimited, domain.ErrorCode(login("Sup3r-secret!")))
	}
	api.throttled.Store(false)
	require.NoError(t, login("Sup3r-secret!"), "Cognito's own 429s were given back, not counted")

	allowance := cmdidentity.DefaultThrottleConfig.Pair.Free + 1
	var checked, limited atomic.Int64
	var wg sync.WaitGroup
	before := api.calls.Load()
	for range 40 {
		wg.Go(func() {
			switch err := login("Wrong-passw0rd!"); domain.ErrorCode(err) {
			case domain.CodeUnauthenticated:
				checked.Add(1)
			case domain.CodeRateLimited:
				limited.Add(1)
			default:
				t.Errorf("login: %v", err)
			}
		})
	}
	wg.Wait()
	calls := api.calls.Load() - before
	t.Logf("%d checks reached Cognito, %d answered 429", calls, limited.Load())
	assert.LessOrEqual(t, calls, int64(allowance))
	assert.LessOrEqual(t, checked.Load(), int64(allowance))
	assert.Equal(t, int64(40), checked.Load()+limited.Load())
}
