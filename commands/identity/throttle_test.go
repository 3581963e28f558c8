package identity_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
)

func wait(t *testing.T, err error) time.Duration {
	t.Helper()
	var te *identity.ThrottledError
	require.True(t, errors.As(err, &te), "want *ThrottledError, got %v", err)
	assert.Equal(t, domain.CodeRateLimited, domain.ErrorCode(err))
	return te.RetryAfter()
}

func TestThrottleExponentialBackoff(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	pol := identity.ThrottlePolicy{Free: 3, Base: time.Second, Max: 8 * time.Second, Forget: time.Hour}
	th := identity.NewThrottleWith(clk, pol, identity.DefaultIPPolicy)
	acct := "user:acme/alice@example.com"

	for range 3 {
		require.NoError(t, th.Check(acct))
		th.Failure(acct)
	}
	require.NoError(t, th.Check(acct), "free failures do not lock")

	want := []time.Duration{1, 2, 4, 8, 8}
	for i, w := range want {
		th.Failure(acct)
		got := wait(t, th.Check(acct))
		assert.InDelta(t, float64(w*time.Second), float64(got), float64(50*time.Millisecond), "failure %d", i+4)
		assert.NoError(t, clk.Set(clk.Now().Add(got)))
		assert.NoError(t, th.Check(acct), "unlocked after the wait")
	}

	// Case does not buy a fresh allowance.
	th.Failure("USER:ACME/Alice@Example.com")
	wait(t, th.Check(acct))

	// Success resets the account.
	require.NoError(t, clk.Set(clk.Now().Add(time.Minute)))
	th.Success(acct)
	require.NoError(t, th.Check(acct))
	th.Failure(acct)
	require.NoError(t, th.Check(acct))
}

func TestThrottleForgetsAfterQuietPeriod(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	pol := identity.ThrottlePolicy{Free: 1, Base: time.Second, Max: time.Minute, Forget: 10 * time.Minute}
	th := identity.NewThrottleWith(clk, pol, pol)
	th.Failure("k")
	th.Failure("k")
	wait(t, th.Check("k"))
	require.NoError(t, clk.Set(t0.Add(11*time.Minute)))
	require.NoError(t, th.Check("k"))
	th.Failure("k")
	require.NoError(t, th.Check("k"), "the count started over")
}

func TestThrottleIPIsSeparateAndSurvivesSuccess(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	acctPol := identity.ThrottlePolicy{Free: 100, Base: time.Second, Max: time.Minute, Forget: time.Hour}
	ipPol := identity.ThrottlePolicy{Free: 2, Base: 5 * time.Second, Max: time.Minute, Forget: time.Hour}
	th := identity.NewThrottleWith(clk, acctPol, ipPol)
	ip := "ip:203.0.113.9"
	// An attacker sprays different accounts from one IP.
	for i := range 3 {
		th.Failure(fmt.Sprintf("user:acme/u%d@example.com", i), ip)
	}
	got := wait(t, th.Check("user:acme/fresh@example.com", ip))
	assert.InDelta(t, float64(5*time.Second), float64(got), float64(100*time.Millisecond))
	// Its own valid login does not clear the IP.
	th.Success("user:acme/mine@example.com", ip)
	wait(t, th.Check(ip))
	// Another IP is unaffected.
	require.NoError(t, th.Check("ip:198.51.100.1"))
}

func TestThrottleConcurrentUse(t *testing.T) {
	t.Parallel()
	th := identity.NewThrottle(clock.System{})
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				k := fmt.Sprintf("user:t/%d", (g*200+i)%50)
				_ = th.Check(k, "ip:x")
				th.Failure(k, "ip:x")
				if i%7 == 0 {
					th.Success(k)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	assert.LessOrEqual(t, th.Len(), 51)
}
