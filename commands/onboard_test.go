package commands_test

import (
	"context"
	"errors"
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
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

var errCrashed = errors.New("test: process crashed")

// crashAfterReservation stands in for a process that dies right after the name
// reservation's append returned: every later append fails.
type crashAfterReservation struct {
	events.Store
	crashed atomic.Bool
}

func (s *crashAfterReservation) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if s.crashed.Load() {
		return events.AppendResult{}, errCrashed
	}
	res, err := s.Store.Append(ctx, req)
	if err == nil && req.StreamType == tenant.NameStreamType {
		s.crashed.Store(true)
	}
	return res, err
}

// crashedOnboarding runs req (with key, if any) until the crash after its name
// reservation, then gives the service its store back, as a restarted process has.
func (f *fixture) crashedOnboarding(t *testing.T, key string, req commands.Onboard) {
	t.Helper()
	crash := &crashAfterReservation{Store: f.store}
	f.svc.Store = crash
	_, err := f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: key}, req, identity.ValidatePassword)
	require.ErrorIs(t, err, errCrashed)
	require.True(t, crash.crashed.Load())
	f.svc.Store = f.store
}

// reservations returns the name's reservations, oldest first.
func (f *fixture) reservations(t *testing.T, name string) []tenant.NameReserved {
	t.Helper()
	evs, err := f.store.Load(f.ctx, projections.PlatformTenant, events.StreamID(tenant.NameStreamID(name)), 1)
	require.NoError(t, err)
	var out []tenant.NameReserved
	for _, ev := range evs {
		r, err := events.DecodeAs[tenant.NameReserved](schema.Registry, ev)
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// profileTypes lists the event types of a tenant's profile stream.
func (f *fixture) profileTypes(t *testing.T, tid string) []string {
	t.Helper()
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), tenant.StreamID, 1)
	if errors.Is(err, events.ErrNotFound) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// loadBarrier holds the result of every Load of one stream until n of them have
// read it (or a second passes), once, so that racers all decide on the same state
// before any of them appends: the race is certain, not left to the scheduler.
type loadBarrier struct {
	events.Store
	stream  events.StreamID
	n       int
	mu      sync.Mutex
	waiting int
	open    chan struct{}
}

func newLoadBarrier(s events.Store, stream events.StreamID, n int) *loadBarrier {
	return &loadBarrier{Store: s, stream: stream, n: n, open: make(chan struct{})}
}

func (b *loadBarrier) Load(ctx context.Context, tid events.TenantID, stream events.StreamID, from int64) ([]events.Event, error) {
	evs, err := b.Store.Load(ctx, tid, stream, from)
	if stream == b.stream {
		b.mu.Lock()
		b.waiting++
		if b.waiting == b.n {
			close(b.open)
		}
		b.mu.Unlock()
		select {
		case <-b.open:
		case <-time.After(time.Second):
		}
	}
	return evs, err
}

// tenantIssuer issues a token naming the tenant and the user.
type tenantIssuer struct{}

func (tenantIssuer) Issue(p ident.Principal) (commands.Tokens, error) {
	return commands.Tokens{AccessToken: p.TenantID + "/" + p.UserID, TokenType: "Bearer"}, nil
}

func (tenantIssuer) VerifyRefresh(string) (ident.Principal, error) {
	return ident.Principal{}, errors.New("no refresh")
}

// login returns the tenant id the login's token is for, or the login's error.
func (f *fixture) login(name, email, password string) (string, error) {
	a := &commands.Auth{Service: f.svc, Issuer: tenantIssuer{}}
	tok, err := a.Login(f.ctx, commands.Login{TenantName: name, Email: email, Password: password, ClientIP: "192.0.2.1"})
	if err != nil {
		return "", err
	}
	tid, _, _ := cut(tok.AccessToken)
	return tid, nil
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// A crash between the name reservation and the rest of the onboarding leaves a
// reservation that only the same request can complete: an attacker who knows the
// name and the email but brings their own password gets 409, with or without an
// Idempotency-Key of their own, and cannot log in; the victim's retry, by its
// password or by its key, completes the tenant the reservation was made for.
func TestOnlyTheSameRequestResumesACrashedOnboarding(t *testing.T) {
	victim := commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!", Plan: "pro"}
	attacker := commands.Onboard{TenantName: "acme", Email: "Admin@Acme.test", Password: "Mall0ry-was-here!"}
	for _, retry := range []struct {
		name string
		meta commands.Meta
	}{
		{name: "by password", meta: commands.Meta{}},
		{name: "by idempotency key", meta: commands.Meta{IdempotencyKey: "victim-key"}},
	} {
		t.Run(retry.name, func(t *testing.T) {
			f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
			f.crashedOnboarding(t, "victim-key", victim)
			res := f.reservations(t, "acme")
			require.Len(t, res, 1)
			assert.NotEmpty(t, res[0].PasswordVerifier, "the reservation records a verifier")
			assert.NotContains(t, res[0].PasswordVerifier, victim.Password)

			_, err := f.svc.Onboard(f.ctx, commands.Meta{}, attacker, identity.ValidatePassword)
			assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "%v", err)
			_, err = f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "attacker-key"}, attacker, identity.ValidatePassword)
			assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "%v", err)
			_, err = f.login("acme", attacker.Email, attacker.Password)
			assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
			assert.Empty(t, f.profileTypes(t, res[0].TenantID), "the attacker completed nothing")

			out, err := f.svc.Onboard(f.ctx, retry.meta, victim, identity.ValidatePassword)
			require.NoError(t, err)
			assert.Equal(t, commands.Onboarded{TenantID: res[0].TenantID, TenantName: "acme", AdminUserID: res[0].UserID, Plan: "pro"}, out)

			tid, err := f.login("acme", victim.Email, victim.Password)
			require.NoError(t, err)
			assert.Equal(t, out.TenantID, tid)
			_, err = f.login("acme", attacker.Email, attacker.Password)
			assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
			_, err = f.svc.Onboard(f.ctx, commands.Meta{}, attacker, identity.ValidatePassword)
			assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
		})
	}
}

// A reservation that was never completed holds the name for ReservationTTL, then a
// new onboarding takes it over; the directory follows the newest reservation, and
// the old request can no longer complete. A completed onboarding never expires.
func TestNeverCompletedReservationsExpire(t *testing.T) {
	start := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, start)
	f.svc.ReservationTTL = 6 * time.Hour
	victim := commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}
	f.crashedOnboarding(t, "victim-key", victim)
	old := f.reservations(t, "acme")[0]
	assert.Equal(t, start, old.At.Truncate(time.Hour), "the reservation records its time from the service clock")

	newcomer := commands.Onboard{TenantName: "ACME", Email: "founder@acme.test", Password: "N3wcomer-pass!"}
	require.NoError(t, f.clk.Set(old.At.Add(6*time.Hour-time.Second)))
	_, err := f.svc.Onboard(f.ctx, commands.Meta{}, newcomer, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "not yet expired")

	require.NoError(t, f.clk.Set(old.At.Add(6*time.Hour)))
	out, err := f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "newcomer-key"}, newcomer, identity.ValidatePassword)
	require.NoError(t, err)
	assert.NotEqual(t, old.TenantID, out.TenantID)
	again, err := f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "newcomer-key"}, newcomer, identity.ValidatePassword)
	require.NoError(t, err, "a retry of the takeover returns its result")
	assert.Equal(t, out, again)

	res := f.reservations(t, "acme")
	require.Len(t, res, 2)
	assert.Equal(t, out.TenantID, res[1].TenantID)
	assert.Equal(t, []string{tenant.TypeReservationExpired}, f.profileTypes(t, old.TenantID), "the old onboarding is abandoned for good")
	tid, found, err := f.svc.TenantByName(f.ctx, "acme")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, events.TenantID(out.TenantID), tid, "the directory follows the newest reservation")
	tid2, err := f.login("acme", newcomer.Email, newcomer.Password)
	require.NoError(t, err)
	assert.Equal(t, out.TenantID, tid2)

	// The expired request cannot come back, by password or by key.
	_, err = f.svc.Onboard(f.ctx, commands.Meta{}, victim, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
	_, err = f.svc.Onboard(f.ctx, commands.Meta{IdempotencyKey: "victim-key"}, victim, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
	assert.Equal(t, []string{tenant.TypeReservationExpired}, f.profileTypes(t, old.TenantID))
	_, err = f.login("acme", victim.Email, victim.Password)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))

	// The completed onboarding keeps its name however long it waits.
	require.NoError(t, f.clk.Set(f.clk.Now().Add(1000*time.Hour)))
	_, err = f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "late@acme.test", Password: "L4te-comer-pass!"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err))
	assert.Len(t, f.reservations(t, "acme"), 2)
}

// Expiry frees the name; it does not cancel the request: until someone takes the
// name over, the same request's retry still completes its own reservation.
func TestAnExpiredReservationCanStillBeCompletedByItsRequest(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	victim := commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}
	f.crashedOnboarding(t, "", victim)
	old := f.reservations(t, "acme")[0]
	require.NoError(t, f.clk.Set(old.At.Add(commands.DefaultReservationTTL+time.Hour)))
	out, err := f.svc.Onboard(f.ctx, commands.Meta{}, victim, identity.ValidatePassword)
	require.NoError(t, err)
	assert.Equal(t, old.TenantID, out.TenantID)
	assert.Len(t, f.reservations(t, "acme"), 1)
}

// 40 onboardings race to take over one expired name: the exact expected version of
// the name stream lets exactly one win; the others get 409 and the directory
// names the winner. The race starts from an expired reservation, and from one a
// crashed takeover already abandoned (its tenant.reservation_expired is there,
// its reservation is not), where the name stream's version alone decides.
func TestConcurrentTakeoversOfAnExpiredNameHaveOneWinner(t *testing.T) {
	for _, abandoned := range []bool{false, true} {
		t.Run(fmt.Sprintf("abandoned=%v", abandoned), func(t *testing.T) {
			f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
			f.crashedOnboarding(t, "", commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"})
			old := f.reservations(t, "acme")[0]
			require.NoError(t, f.clk.Set(old.At.Add(commands.DefaultReservationTTL)))
			if abandoned {
				_, err := f.store.Append(f.ctx, events.AppendRequest{Tenant: events.TenantID(old.TenantID), Stream: tenant.StreamID, StreamType: tenant.StreamType,
					Expected: events.NoStream, Events: []events.NewEvent{mustEvent(t, &tenant.ReservationExpired{Name: "acme", At: f.clk.Now()})}})
				require.NoError(t, err)
			}

			const n = 40
			f.svc.Store = newLoadBarrier(f.store, events.StreamID(tenant.NameStreamID("acme")), n)
			outs := make([]commands.Onboarded, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					outs[i], errs[i] = f.svc.Onboard(f.ctx, commands.Meta{}, commands.Onboard{
						TenantName: "acme", Email: fmt.Sprintf("racer%d@acme.test", i), Password: "Sup3r-secret!"}, identity.ValidatePassword)
				})
			}
			close(start)
			wg.Wait()

			var winners []int
			for i, err := range errs {
				if err == nil {
					winners = append(winners, i)
					continue
				}
				assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "racer %d: %v", i, err)
			}
			require.Len(t, winners, 1, "exactly one takeover wins")
			winner := winners[0]
			f.svc.Store = f.store

			res := f.reservations(t, "acme")
			require.Len(t, res, 2, "exactly one takeover reservation")
			assert.Equal(t, outs[winner].TenantID, res[1].TenantID)
			assert.Equal(t, []string{tenant.TypeReservationExpired}, f.profileTypes(t, old.TenantID))
			assert.Equal(t, []string{tenant.TypeOnboarded}, f.profileTypes(t, outs[winner].TenantID))
			tid, found, err := f.svc.TenantByName(f.ctx, "acme")
			require.NoError(t, err)
			require.True(t, found)
			assert.Equal(t, events.TenantID(outs[winner].TenantID), tid)
			f.project(t)
			tenants, err := f.svc.Reader.List(f.ctx, "tenants", projections.PlatformTenant, "tenants", "", 100)
			require.NoError(t, err)
			assert.Len(t, tenants, 1, "one tenant holds the name")
		})
	}
}

// The expired reservation's own retry racing takeovers: either it completes and
// every takeover gets 409, or one takeover wins and the retry gets 409. Never both.
func TestAResumeRacingTakeoversHasOneWinner(t *testing.T) {
	for round := range 5 {
		f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
		victim := commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}
		f.crashedOnboarding(t, "", victim)
		old := f.reservations(t, "acme")[0]
		require.NoError(t, f.clk.Set(old.At.Add(commands.DefaultReservationTTL)))

		const n = 10
		f.svc.Store = newLoadBarrier(f.store, events.StreamID(tenant.NameStreamID("acme")), n+1)
		outs := make([]commands.Onboarded, n+1)
		errs := make([]error, n+1)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n + 1 {
			req := commands.Onboard{TenantName: "acme", Email: fmt.Sprintf("racer%d@acme.test", i), Password: "Sup3r-secret!"}
			if i == n {
				req = victim
			}
			wg.Go(func() {
				<-start
				outs[i], errs[i] = f.svc.Onboard(f.ctx, commands.Meta{}, req, identity.ValidatePassword)
			})
		}
		close(start)
		wg.Wait()
		var winners []int
		for i, err := range errs {
			if err == nil {
				winners = append(winners, i)
			} else {
				assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "round %d racer %d: %v", round, i, err)
			}
		}
		require.Len(t, winners, 1, "round %d", round)
		f.svc.Store = f.store
		tid, found, err := f.svc.TenantByName(f.ctx, "acme")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, events.TenantID(outs[winners[0]].TenantID), tid, "round %d", round)
		switch {
		case winners[0] == n && outs[n].TenantID == old.TenantID:
			// The victim resumed its own onboarding.
			assert.Len(t, f.reservations(t, "acme"), 1)
		case winners[0] == n:
			// The victim read the name after a racer had abandoned the old
			// onboarding (and then lost its own takeover): it took the name
			// over like any racer, with a new tenant.
			assert.Equal(t, []string{tenant.TypeReservationExpired}, f.profileTypes(t, old.TenantID))
		default:
			assert.Equal(t, []string{tenant.TypeReservationExpired}, f.profileTypes(t, old.TenantID))
		}
	}
}
