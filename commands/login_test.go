package commands_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// countingHasher counts the passwords checked. Each check takes a while, as
// argon2id does, so concurrent logins really overlap.
type countingHasher struct {
	commands.PasswordHasher
	delay    time.Duration
	verifies atomic.Int64
}

func (h *countingHasher) Verify(password, encoded string) (bool, error) {
	h.verifies.Add(1)
	time.Sleep(h.delay)
	return h.PasswordHasher.Verify(password, encoded)
}

// fakeIssuer issues a token naming the user.
type fakeIssuer struct{}

func (fakeIssuer) Issue(p ident.Principal) (commands.Tokens, error) {
	return commands.Tokens{AccessToken: "token-for-" + p.UserID, TokenType: "Bearer"}, nil
}

func (fakeIssuer) VerifyRefresh(string) (ident.Principal, error) {
	return ident.Principal{}, domain.Errorf(domain.CodeUnauthenticated, "no")
}

// loginFixture is a tenant "acme" whose admin is the victim, and an Auth with the
// default throttle on the fixture's test clock.
func loginFixture(t *testing.T) (*fixture, *commands.Auth, *countingHasher) {
	t.Helper()
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	f.onboard(t, "acme")
	h := &countingHasher{PasswordHasher: f.svc.Passwords, delay: 20 * time.Millisecond}
	f.svc.Passwords = h
	return f, &commands.Auth{Service: f.svc, Issuer: fakeIssuer{}, Throttle: identity.NewThrottle(f.clk)}, h
}

const victimPassword = "Sup3r-secret!"

func victimLogin(password, addr string) commands.Login {
	return commands.Login{TenantName: "acme", Email: "admin@acme.test", Password: password, ClientIP: addr}
}

// 40 simultaneous wrong passwords on one account check at most the policy's
// allowance of passwords: the attempt is counted before the hash, not after.
// From one address the pair's allowance holds; from 40 addresses the account's.
func TestLoginConcurrentWrongPasswordsGetOnlyTheAllowance(t *testing.T) {
	cfg := identity.DefaultThrottleConfig
	tests := []struct {
		name      string
		addr      func(i int) string
		allowance int
	}{
		{"one address", func(int) string { return "203.0.113.66" }, cfg.Pair.Free + 1},
		{"40 addresses", func(i int) string { return fmt.Sprintf("203.0.113.%d", i+1) }, cfg.Account.Free + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, auth, h := loginFixture(t)
			var checked, limited atomic.Int64
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Go(func() {
					<-start
					_, err := auth.Login(f.ctx, victimLogin("Wrong-passw0rd!", tc.addr(i)))
					switch domain.ErrorCode(err) {
					case domain.CodeUnauthenticated:
						checked.Add(1)
					case domain.CodeRateLimited:
						limited.Add(1)
					default:
						t.Errorf("login %d: %v", i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			t.Logf("%d passwords checked, %d answered 429 (allowance %d)", h.verifies.Load(), limited.Load(), tc.allowance)
			assert.LessOrEqual(t, h.verifies.Load(), int64(tc.allowance), "passwords checked")
			assert.LessOrEqual(t, checked.Load(), int64(tc.allowance), "non-429 answers")
			assert.Equal(t, h.verifies.Load(), checked.Load())
			assert.Equal(t, int64(40), checked.Load()+limited.Load())
		})
	}
}

// An attempt whose password was never checked (the hasher was busy) is given
// back: a burst of 503s does not lock the account.
func TestLoginBusyHasherRefundsTheAttempt(t *testing.T) {
	f, auth, h := loginFixture(t)
	f.svc.Passwords = busyHasher{}
	for range 3 * identity.DefaultThrottleConfig.Pair.Free {
		_, err := auth.Login(f.ctx, victimLogin(victimPassword, "198.51.100.7"))
		require.Equal(t, domain.CodeUnavailable, domain.ErrorCode(err), "%v", err)
	}
	f.svc.Passwords = h
	_, err := auth.Login(f.ctx, victimLogin(victimPassword, "198.51.100.7"))
	require.NoError(t, err)
}

type busyHasher struct{}

func (busyHasher) Hash(string) (string, error) { return "", &identity.BusyError{Wait: time.Second} }
func (busyHasher) Verify(string, string) (bool, error) {
	return false, fmt.Errorf("verify password: %w", &identity.BusyError{Wait: time.Second})
}

// Knowing the victim's tenant and email is not enough to lock the victim out.
// The attacker tries as fast as the throttle lets it for an hour, waiting out
// every lock, from one address or from many. The victim then logs in from the
// address it used before the attack, with no wait. From an address it never used
// (or if it never logged in at all) the victim is subject to the soft account
// lock, which only a many-address attack trips: at most Account.Max (5 minutes),
// after which it gets in, and that address is known from then on.
func TestLoginVictimIsNotLockedOutByAnAttacker(t *testing.T) {
	cfg := identity.DefaultThrottleConfig
	tests := []struct {
		name             string
		attacker         func(i int) string
		newAddressLocked bool
	}{
		{"one attacker address", func(int) string { return "203.0.113.66" }, false},
		{"64 attacker addresses", func(i int) string { return fmt.Sprintf("203.0.113.%d", i%64) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, auth, h := loginFixture(t)
			h.delay = 0
			home := "198.51.100.7"
			_, err := auth.Login(f.ctx, victimLogin(victimPassword, home))
			require.NoError(t, err, "the victim logged in from home before the attack")

			end := f.clk.Now().Add(time.Hour)
			failures := 0
			for i := 0; f.clk.Now().Before(end); i++ {
				_, err := auth.Login(f.ctx, victimLogin(fmt.Sprintf("Guess-%d!", i), tc.attacker(i)))
				var te *identity.ThrottledError
				switch {
				case domain.ErrorCode(err) == domain.CodeUnauthenticated:
					failures++
				case assert.ErrorAs(t, err, &te):
					// Wait out the shortest lock among the attacker's addresses: a
					// second at a time, as a patient attacker would.
					require.NoError(t, f.clk.Set(f.clk.Now().Add(min(te.RetryAfter(), time.Second))))
				default:
					t.FailNow()
				}
			}
			t.Logf("the attacker got %d wrong passwords checked in an hour", failures)

			_, err = auth.Login(f.ctx, victimLogin(victimPassword, home))
			require.NoError(t, err, "the victim's known address is not locked out")

			fresh := "192.0.2.50"
			_, err = auth.Login(f.ctx, victimLogin(victimPassword, fresh))
			if !tc.newAddressLocked {
				require.NoError(t, err, "a one-address attack does not reach the account lock")
				return
			}
			var te *identity.ThrottledError
			require.ErrorAs(t, err, &te, "a new address waits out the soft account lock")
			assert.LessOrEqual(t, te.RetryAfter(), cfg.Account.Max)
			require.NoError(t, f.clk.Set(f.clk.Now().Add(te.RetryAfter())))
			_, err = auth.Login(f.ctx, victimLogin(victimPassword, fresh))
			require.NoError(t, err, "and then gets in")
			_, err = auth.Login(f.ctx, victimLogin("Guess-again!", tc.attacker(1)))
			require.Error(t, err)
			_, err = auth.Login(f.ctx, victimLogin(victimPassword, fresh))
			require.NoError(t, err, "from then on that address is known")
		})
	}
}
