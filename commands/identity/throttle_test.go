package identity_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
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

// try makes one whole attempt: nil and the outcome recorded, or the throttle's error.
func try(th *identity.Throttle, account, addr string, ok bool) error {
	done, _, err := th.Begin(account, addr)
	if err != nil {
		return err
	}
	done(ok)
	return nil
}

func fail(t *testing.T, th *identity.Throttle, account, addr string) {
	t.Helper()
	require.NoError(t, try(th, account, addr, false))
}

// loose is a policy that never gets in the way of the one a test is about.
var loose = identity.ThrottlePolicy{Free: 1000, Base: time.Second, Max: time.Second, Forget: time.Hour}

func config(address, pair, account identity.ThrottlePolicy) identity.ThrottleConfig {
	return identity.ThrottleConfig{Address: address, Pair: pair, Account: account}
}

func TestThrottleExponentialBackoff(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	pol := identity.ThrottlePolicy{Free: 3, Base: time.Second, Max: 8 * time.Second, Forget: time.Hour}
	th := identity.NewThrottleWith(clk, config(loose, pol, loose))
	acct, ip := "acme/alice@example.com", "192.0.2.1"

	for range 3 {
		fail(t, th, acct, ip)
	}
	want := []time.Duration{1, 2, 4, 8, 8}
	for i, w := range want {
		fail(t, th, acct, ip) // free failures do not lock; the next attempt may go ahead
		got := wait(t, try(th, acct, ip, false))
		assert.InDelta(t, float64(w*time.Second), float64(got), float64(50*time.Millisecond), "failure %d", i+4)
		require.NoError(t, clk.Set(clk.Now().Add(got)))
	}

	// Case does not buy a fresh allowance.
	fail(t, th, "ACME/Alice@Example.com", ip)
	wait(t, try(th, acct, ip, true))

	// Success resets the pair.
	require.NoError(t, clk.Set(clk.Now().Add(time.Minute)))
	require.NoError(t, try(th, acct, ip, true))
	fail(t, th, acct, ip)
	require.NoError(t, try(th, acct, ip, false))
}

func TestThrottleForgetsAfterQuietPeriod(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	pol := identity.ThrottlePolicy{Free: 1, Base: time.Second, Max: time.Minute, Forget: 10 * time.Minute}
	th := identity.NewThrottleWith(clk, config(pol, pol, pol))
	fail(t, th, "k", "192.0.2.1")
	fail(t, th, "k", "192.0.2.1")
	wait(t, try(th, "k", "192.0.2.1", false))
	require.NoError(t, clk.Set(t0.Add(11*time.Minute)))
	fail(t, th, "k", "192.0.2.1")
	require.NoError(t, try(th, "k", "192.0.2.1", false), "the count started over")
	assert.Equal(t, 3, th.Len())
	require.NoError(t, clk.Set(t0.Add(30*time.Minute)))
	require.NoError(t, try(th, "k", "192.0.2.1", true), "a success once everything is forgotten")
	assert.Zero(t, th.Len(), "forgotten keys are dropped")
}

func TestThrottleAddressIsSeparateAndSurvivesSuccess(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	ipPol := identity.ThrottlePolicy{Free: 2, Base: 5 * time.Second, Max: time.Minute, Forget: time.Hour}
	th := identity.NewThrottleWith(clk, config(ipPol, loose, loose))
	ip := "203.0.113.9"
	// An attacker sprays different accounts from one address.
	for i := range 3 {
		fail(t, th, fmt.Sprintf("acme/u%d@example.com", i), ip)
	}
	got := wait(t, try(th, "acme/fresh@example.com", ip, false))
	assert.InDelta(t, float64(5*time.Second), float64(got), float64(100*time.Millisecond))
	// Its own valid login, once the lock is over, does not clear the address.
	require.NoError(t, clk.Set(clk.Now().Add(got)))
	require.NoError(t, try(th, "acme/mine@example.com", ip, true))
	fail(t, th, "acme/u9@example.com", ip)
	wait(t, try(th, "acme/mine@example.com", ip, true))
	// Another address is unaffected.
	require.NoError(t, try(th, "acme/u0@example.com", "198.51.100.1", false))
}

// An IPv6 client is one key per /64, and an IPv4-mapped address is its IPv4.
func TestThrottleAddressKeys(t *testing.T) {
	t.Parallel()
	ipPol := identity.ThrottlePolicy{Free: 0, Base: time.Minute, Max: time.Minute, Forget: time.Hour}
	tests := []struct {
		name        string
		first, then string
		shared      bool
	}{
		{"same /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"zone ignored", "fe80::1%eth0", "fe80::2", true},
		{"other /64", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"mapped IPv4", "::ffff:192.0.2.7", "192.0.2.7", true},
		{"other IPv4", "192.0.2.7", "192.0.2.8", false},
		{"no address is one client", "", " ", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th := identity.NewThrottleWith(clock.NewTest(t0), config(ipPol, loose, loose))
			fail(t, th, "acme/a@example.com", tc.first)
			err := try(th, "acme/b@example.com", tc.then, false)
			if tc.shared {
				wait(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// Attempts are counted when they begin, before their password is checked: of 40
// concurrent attempts on one key, at most Free+1 may go ahead, whichever class the
// key is. Given back (the check never ran), they can be made again; failed, they
// lock the key.
func TestThrottleReservesAttemptsBeforeTheyAreChecked(t *testing.T) {
	t.Parallel()
	strict := identity.ThrottlePolicy{Free: 5, Base: time.Second, Max: time.Minute, Forget: time.Hour}
	tests := []struct {
		name string
		cfg  identity.ThrottleConfig
		key  func(i int) (account, addr string)
	}{
		{"pair", config(loose, strict, loose), func(int) (string, string) { return "acme/alice@example.com", "192.0.2.1" }},
		{"address", config(strict, loose, loose), func(i int) (string, string) { return fmt.Sprintf("acme/u%d@example.com", i), "192.0.2.1" }},
		{"account", config(loose, loose, strict), func(i int) (string, string) { return "acme/alice@example.com", fmt.Sprintf("192.0.2.%d", i+1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			th := identity.NewThrottleWith(clock.NewTest(t0), tc.cfg)
			begin := func() (dones []func(bool), refunds []func()) {
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := range 40 {
					wg.Go(func() {
						done, refund, err := th.Begin(tc.key(i))
						if err != nil {
							assert.Equal(t, domain.CodeRateLimited, domain.ErrorCode(err))
							return
						}
						mu.Lock()
						dones, refunds = append(dones, done), append(refunds, refund)
						mu.Unlock()
					})
				}
				wg.Wait()
				return dones, refunds
			}
			dones, refunds := begin()
			require.Len(t, dones, 6, "Free+1 attempts in flight")
			for _, r := range refunds {
				r()
			}
			dones, _ = begin()
			require.Len(t, dones, 6, "given back, the attempts can be made again")
			for _, d := range dones {
				d(false)
				d(false) // ending twice counts once
			}
			a, ip := tc.key(99)
			wait(t, try(th, a, ip, false))
		})
	}
}

// Someone who knows a victim's tenant and email can lock the account, but only for
// addresses the victim never logged in from; the victim's own address goes on.
func TestThrottleKnownAddressEscapesTheAccountLock(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	acctPol := identity.ThrottlePolicy{Free: 4, Base: time.Second, Max: 5 * time.Minute, Forget: time.Hour}
	pairPol := identity.ThrottlePolicy{Free: 2, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour}
	th := identity.NewThrottleWith(clk, config(loose, pairPol, acctPol))
	victim, home := "acme/victim@example.com", "198.51.100.7"
	require.NoError(t, try(th, victim, home, true))

	// Failures from three addresses lock the account for everyone else.
	for i := range 10 {
		_ = try(th, victim, fmt.Sprintf("203.0.113.%d", i%3), false)
	}
	got := wait(t, try(th, victim, "192.0.2.200", true))
	assert.LessOrEqual(t, got, acctPol.Max, "the account lock is short")
	require.NoError(t, try(th, victim, home, true), "the victim's known address is exempt")
	wait(t, try(th, victim, "203.0.113.0", false))

	// A known address that fails is held by its pair, like any other.
	fail(t, th, victim, home)
	fail(t, th, victim, home)
	fail(t, th, victim, home)
	wait(t, try(th, victim, home, true))

	// Known addresses expire.
	require.NoError(t, clk.Set(t0.Add(31*24*time.Hour)))
	for i := range 10 {
		_ = try(th, victim, fmt.Sprintf("203.0.113.%d", i%3), false)
	}
	wait(t, try(th, victim, home, true))
}

// When a class's table is full of live keys, a new key is counted in the class's
// shared overflow key, which locks after the class's allowance like any key: a
// spray of fresh keys is throttled, never waved through, and memory stays put.
func TestThrottleFullTableThrottlesNewKeys(t *testing.T) {
	t.Parallel()
	pol := identity.ThrottlePolicy{Free: 2, Base: time.Second, Max: time.Minute, Forget: time.Hour}
	tests := []struct {
		name string
		cfg  identity.ThrottleConfig
		key  func(i int) (account, addr string)
	}{
		{"addresses", config(pol, loose, loose), func(i int) (string, string) { return "acme/a@example.com", fmt.Sprintf("10.0.%d.%d", i/256, i%256) }},
		{"pairs", config(loose, pol, loose), func(i int) (string, string) { return fmt.Sprintf("acme/u%d@example.com", i), "192.0.2.1" }},
		{"accounts", config(loose, loose, pol), func(i int) (string, string) {
			return fmt.Sprintf("acme/u%d@example.com", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewTest(t0)
			cfg := tc.cfg
			cfg.MaxKeys = 4
			th := identity.NewThrottleWith(clk, cfg)
			for i := range 4 {
				a, ip := tc.key(i)
				fail(t, th, a, ip) // four live keys fill the class
			}
			n := th.Len()
			for i := 4; i < 7; i++ {
				a, ip := tc.key(i)
				fail(t, th, a, ip) // three fresh keys: the overflow's allowance
			}
			a, ip := tc.key(7)
			wait(t, try(th, a, ip, true))
			assert.Equal(t, n, th.Len(), "no key was added")

			// A success through the overflow does not reset it.
			require.NoError(t, clk.Set(clk.Now().Add(time.Second)))
			require.NoError(t, try(th, a, ip, true))
			a, ip = tc.key(8)
			fail(t, th, a, ip)
			wait(t, try(th, a, ip, true))

			// Keys that were there before keep their own counts.
			a, ip = tc.key(0)
			require.NoError(t, try(th, a, ip, true))

			// Once the old keys are forgotten there is room again.
			require.NoError(t, clk.Set(clk.Now().Add(2*time.Hour)))
			a, ip = tc.key(9)
			fail(t, th, a, ip)
			fail(t, th, a, ip)
			require.NoError(t, try(th, a, ip, false), "a fresh key has its own allowance again")
		})
	}
}

func TestThrottleKnownAddressesAreBounded(t *testing.T) {
	t.Parallel()
	clk := clock.NewTest(t0)
	acctPol := identity.ThrottlePolicy{Free: 0, Base: time.Minute, Max: time.Minute, Forget: time.Hour}
	cfg := config(loose, loose, acctPol)
	cfg.KnownPerAccount, cfg.MaxKnownAccounts = 2, 3
	th := identity.NewThrottleWith(clk, cfg)

	// The least recently used address of an account is forgotten first.
	acct := "acme/a@example.com"
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.3"} {
		require.NoError(t, try(th, acct, ip, true))
		require.NoError(t, clk.Set(clk.Now().Add(time.Millisecond)))
	}
	fail(t, th, acct, "203.0.113.1") // locks the account for unknown addresses
	for ip, known := range map[string]bool{"192.0.2.1": true, "192.0.2.2": false, "192.0.2.3": true} {
		err := try(th, acct, ip, true)
		if known {
			assert.NoError(t, err, ip)
		} else {
			wait(t, err)
		}
	}
	for i := range 10 {
		require.NoError(t, try(th, fmt.Sprintf("acme/u%d@example.com", i), "192.0.2.9", true))
	}
	assert.Equal(t, 3, th.KnownLen())
}

func TestThrottleConcurrentUse(t *testing.T) {
	t.Parallel()
	th := identity.NewThrottle(clock.System{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprintf("t/%d", (g*200+i)%50)
				done, refund, err := th.Begin(k, "192.0.2.1")
				switch {
				case err != nil:
				case i%7 == 0:
					done(true)
				case i%11 == 0:
					refund()
				default:
					done(false)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, th.Len(), 1+50+50)
}

// The heap one failure key and one remembered account (with all its known
// addresses) may take. docs/api.md states the bound they give with the default
// sizes: 3 x 100,000 keys x 64 B + 100,000 accounts x 256 B, under 48 MiB.
const (
	throttleBytesPerKey   = 64
	knownBytesPerAccount  = 256
	throttleMemoryKeys    = 20_000
	throttleMemoryKnownAc = 5_000
)

// A spray of more fresh keys and known addresses than the throttle keeps leaves it
// at its bounds, in entries and in bytes.
func TestThrottleMemoryIsBounded(t *testing.T) {
	clk := clock.NewTest(t0)
	cfg := identity.DefaultThrottleConfig
	cfg.MaxKeys, cfg.MaxKnownAccounts = throttleMemoryKeys, throttleMemoryKnownAc
	cfg.Address.Free, cfg.Pair.Free, cfg.Account.Free = 1<<30, 1<<30, 1<<30

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	th := identity.NewThrottleWith(clk, cfg)
	for i := range throttleMemoryKeys + 500 {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		_ = try(th, fmt.Sprintf("tenant-%d/user%d@example.com", i, i), addr, false)
	}
	for i := range throttleMemoryKnownAc + 100 {
		for j := range cfg.KnownPerAccount {
			_ = try(th, fmt.Sprintf("t/known%d@example.com", i), fmt.Sprintf("172.16.%d.%d", j, i&255), true)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	assert.Equal(t, 3*throttleMemoryKeys, th.Len(), "each class is at its bound")
	assert.Equal(t, throttleMemoryKnownAc, th.KnownLen())
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	bound := int64(3*throttleMemoryKeys*throttleBytesPerKey + throttleMemoryKnownAc*knownBytesPerAccount)
	t.Logf("throttle heap at its bounds (%d keys, %d accounts x %d known addresses): %d bytes (bound %d)",
		3*throttleMemoryKeys, throttleMemoryKnownAc, cfg.KnownPerAccount, used, bound)
	assert.Less(t, used, bound)
	runtime.KeepAlive(th)
}
