package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/projections"
)

// loginHasher counts the passwords checked (each taking a while, as argon2id
// does), or answers busy.
type loginHasher struct {
	commands.PasswordHasher
	verifies atomic.Int64
	busy     atomic.Bool
}

func (h *loginHasher) Verify(password, encoded string) (bool, error) {
	if h.busy.Load() {
		return false, fmt.Errorf("verify password: %w", &identity.BusyError{Wait: time.Second})
	}
	h.verifies.Add(1)
	time.Sleep(20 * time.Millisecond)
	return h.PasswordHasher.Verify(password, encoded)
}

type loginIssuer struct{}

func (loginIssuer) Issue(p ident.Principal) (commands.Tokens, error) {
	return commands.Tokens{AccessToken: "t-" + p.UserID, TokenType: "Bearer", ExpiresIn: 3600}, nil
}

func (loginIssuer) VerifyRefresh(string) (ident.Principal, error) {
	return ident.Principal{}, domain.Errorf(domain.CodeUnauthenticated, "no")
}

// newLoginAPI is the API's login route over an in-memory store holding tenant
// "acme" (admin@acme.test / Sup3r-secret!), with the default throttle.
func newLoginAPI(t *testing.T) (http.Handler, *loginHasher) {
	t.Helper()
	clk := clock.NewTest(inputStart)
	store := memstore.New(memstore.WithClock(clk))
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	cheap, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1})
	require.NoError(t, err)
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: catalog.Default()}, Passwords: cheap}
	_, err = svc.Onboard(context.Background(), commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, identity.ValidatePassword)
	require.NoError(t, err)
	h := &loginHasher{PasswordHasher: cheap}
	svc.Passwords = h
	api := &httpapi.API{Service: svc, Logins: &commands.Auth{Service: svc, Issuer: loginIssuer{}, Throttle: identity.NewThrottle(clk)},
		Ready: func(context.Context) error { return nil }, OpenAPI: httpapi.OpenAPI, Log: slog.New(slog.DiscardHandler)}
	return api.Handler(), h
}

func loginBody(password string) string {
	b, _ := json.Marshal(map[string]string{"tenant_name": "acme", "email": "admin@acme.test", "password": password})
	return string(b)
}

// Over real HTTP (the client address is the connection's), 40 simultaneous wrong
// passwords on one account get at most the pair's allowance of checks; every
// other answer is a 429 problem with Retry-After.
func TestLoginHTTPConcurrentWrongPasswordsGetOnlyTheAllowance(t *testing.T) {
	handler, h := newLoginAPI(t)
	srv := httptest.NewServer(handler)
	defer srv.Close()
	allowance := identity.DefaultThrottleConfig.Pair.Free + 1

	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			<-start
			res, err := srv.Client().Post(srv.URL+"/auth/login", "application/json", strings.NewReader(loginBody("Wrong-passw0rd!")))
			if !assert.NoError(t, err) {
				return
			}
			defer res.Body.Close()
			var p struct {
				Code string `json:"code"`
			}
			assert.NoError(t, json.NewDecoder(res.Body).Decode(&p))
			if res.StatusCode == http.StatusTooManyRequests {
				assert.Equal(t, "rate_limited", p.Code)
				assert.NotEmpty(t, res.Header.Get("Retry-After"))
				assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			}
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	t.Logf("statuses %v, %d passwords checked (allowance %d)", statuses, h.verifies.Load(), allowance)
	assert.LessOrEqual(t, h.verifies.Load(), int64(allowance), "passwords checked")
	assert.LessOrEqual(t, 40-statuses[http.StatusTooManyRequests], allowance, "non-429 answers")
	assert.Equal(t, 40, statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests], "only 401 and 429")
}

// A login the hasher has no room for is a 503 problem with Retry-After, and it
// is not counted as a failure.
func TestLoginHTTPBusyHasherIs503WithRetryAfter(t *testing.T) {
	handler, h := newLoginAPI(t)
	h.busy.Store(true)
	for range 2 * identity.DefaultThrottleConfig.Pair.Free {
		req := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(loginBody("Sup3r-secret!")))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
		assert.Equal(t, "1", rec.Header().Get("Retry-After"))
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
		assert.Contains(t, rec.Body.String(), `"code":"unavailable"`)
	}
	h.busy.Store(false)
	req := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(loginBody("Sup3r-secret!")))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}
