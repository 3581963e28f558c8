package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/projections"
)

// inputStart is where the input suites' test clock starts.
var inputStart = time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)

const (
	inputIssuer   = "http://tenantstream.test"
	inputClientID = "tenantstream-test"
)

// The RSA key is the slow part of an issuer; one serves every harness.
var inputKey = sync.OnceValues(identity.GenerateSigningKey)

// inputAPI is the real http.Handler over an in-memory store, with projections
// applied on demand (sync) so tests see read models without waiting.
type inputAPI struct {
	t       testing.TB
	Handler http.Handler
	Store   *memstore.Store
	Clock   *clock.Test
	engine  *projections.Engine
	mu      sync.Mutex
	cursor  events.Cursor
}

// newInputAPI builds the harness; opts change the API before its handler is built.
func newInputAPI(t testing.TB, opts ...func(*httpapi.API)) *inputAPI {
	t.Helper()
	clk := clock.NewTest(inputStart)
	store := memstore.New(memstore.WithClock(clk))
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	// Cheap argon2id parameters: these suites test input handling, not hashing.
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1})
	require.NoError(t, err)
	cat := catalog.Default()
	log := slog.New(slog.DiscardHandler)
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher, Log: log}
	// The meter counts but is never flushed here, so it appends nothing.
	svc.Meter = &commands.Meter{Service: svc}
	key, err := inputKey()
	require.NoError(t, err)
	iss, err := identity.NewIssuer(identity.IssuerConfig{URL: inputIssuer, ClientID: inputClientID, Key: key, Clock: clk})
	require.NoError(t, err)
	keys, err := auth.NewStaticKeys(iss.JWKS())
	require.NoError(t, err)
	ver, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), ClientIDs: []string{inputClientID}, Keys: keys, Clock: clk})
	require.NoError(t, err)
	billingSvc := &commands.Billing{Service: svc, Catalog: cat, Log: log}
	sched := &commands.Scheduler{Billing: billingSvc}
	h := &inputAPI{t: t, Store: store, Clock: clk, engine: engine}
	api := &httpapi.API{
		Service: svc,
		// Tokens and API keys on the one bearer path, as the server has them.
		Authenticate:   auth.Bearer(auth.WithAPIKeys(ver, auth.VerifierFunc(svc.VerifyAPIKey))),
		Logins:         &commands.Auth{Service: svc, Issuer: inputIssuerAdapter{iss}, Throttle: identity.NewThrottle(clk)},
		Billing:        billingSvc,
		Meters:         commands.Catalog{Catalog: cat},
		PasswordPolicy: identity.ValidatePassword,
		Usage:          svc.Meter,
		TestClock:      clk,
		Advanced: func(ctx context.Context) error {
			if err := h.sync(ctx); err != nil {
				return err
			}
			_, err := sched.RunDue(ctx)
			return err
		},
		Metrics: httpapi.NewMetrics(prometheus.NewRegistry()),
		Ready:   func(context.Context) error { return nil },
		OpenAPI: httpapi.OpenAPI,
		Log:     log,
	}
	for _, o := range opts {
		o(api)
	}
	h.Handler = api.Handler()
	return h
}

// inputIssuerAdapter turns the identity package's tokens into the commands' shape.
type inputIssuerAdapter struct{ is *identity.Issuer }

func (i inputIssuerAdapter) Issue(p ident.Principal) (commands.Tokens, error) {
	t, err := i.is.Issue(p)
	if err != nil {
		return commands.Tokens{}, err
	}
	return commands.Tokens{AccessToken: t.AccessToken, IDToken: t.IDToken, TokenType: t.TokenType, ExpiresIn: t.ExpiresIn}, nil
}

// sync applies every event appended so far to the read models.
func (h *inputAPI) sync(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		page, err := h.Store.ReadAll(ctx, h.cursor, events.ReadOptions{Limit: 1000})
		if err != nil {
			return err
		}
		if len(page.Events) > 0 {
			if err := h.engine.Handle(ctx, page.Events); err != nil {
				return err
			}
		}
		h.cursor = page.Next
		if !page.More || len(page.Events) == 0 {
			return nil
		}
	}
}

// inputResponse is a recorded exchange.
type inputResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// request runs one request through the handler. headers are name, value pairs;
// a body gets Content-Type application/json unless headers set another.
func (h *inputAPI) request(method, path, token string, body []byte, headers ...string) inputResponse {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	return h.send(method, path, token, rd, body != nil, headers...)
}

// requestChunked sends body without a Content-Length, as a chunked upload would.
func (h *inputAPI) requestChunked(method, path, token string, body []byte, headers ...string) inputResponse {
	return h.send(method, path, token, io.MultiReader(bytes.NewReader(body)), true, headers...)
}

func (h *inputAPI) send(method, path, token string, rd io.Reader, hasBody bool, headers ...string) inputResponse {
	req := httptest.NewRequestWithContext(context.Background(), method, path, rd)
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.Handler.ServeHTTP(rec, req)
	return inputResponse{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// inputTenant is an onboarded tenant with an admin token.
type inputTenant struct {
	ID, Name, Email, Password, Token, RefreshToken, UserID string
}

const inputPassword = "Sup3r-secret!"

// onboard creates a tenant and logs its admin in.
func (h *inputAPI) onboard(name string) inputTenant {
	h.t.Helper()
	tn := inputTenant{Name: name, Email: "admin@" + name + ".test", Password: inputPassword}
	body, _ := json.Marshal(map[string]string{"tenant_name": name, "email": tn.Email, "password": tn.Password})
	r := h.request(http.MethodPost, "/onboarding", "", body)
	require.Equal(h.t, http.StatusCreated, r.Status, "onboard: %s", r.Body)
	var out struct {
		TenantID    string `json:"tenant_id"`
		AdminUserID string `json:"admin_user_id"`
	}
	require.NoError(h.t, json.Unmarshal(r.Body, &out))
	tn.ID, tn.UserID = out.TenantID, out.AdminUserID
	body, _ = json.Marshal(map[string]string{"tenant_name": name, "email": tn.Email, "password": tn.Password})
	r = h.request(http.MethodPost, "/auth/login", "", body)
	require.Equal(h.t, http.StatusOK, r.Status, "login: %s", r.Body)
	var tok commands.Tokens
	require.NoError(h.t, json.Unmarshal(r.Body, &tok))
	tn.Token, tn.RefreshToken = tok.AccessToken, tok.RefreshToken
	require.NoError(h.t, h.sync(context.Background()))
	return tn
}

// head is the store's last position and its event count: equal heads before
// and after a request mean the request wrote nothing.
func (h *inputAPI) head() (int64, int) {
	h.t.Helper()
	var (
		last  int64
		n     int
		after events.Cursor
	)
	for {
		page, err := h.Store.ReadAll(context.Background(), after, events.ReadOptions{Limit: 1000})
		require.NoError(h.t, err)
		for _, e := range page.Events {
			last = e.Position
			n++
		}
		after = page.Next
		if !page.More || len(page.Events) == 0 {
			return last, n
		}
	}
}

// problemError checks that an error answer is RFC 9457 problem+json with the
// required members; it returns a description of what is wrong, or "".
func problemError(r inputResponse) string {
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		return "Content-Type " + ct + ", want application/problem+json"
	}
	var p map[string]any
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return "body is not a JSON object: " + err.Error()
	}
	for _, k := range []string{"type", "title", "detail"} {
		if s, _ := p[k].(string); strings.TrimSpace(s) == "" {
			return "problem member " + k + " missing or empty"
		}
	}
	if st, _ := p["status"].(float64); int(st) != r.Status {
		return "problem status does not match the HTTP status"
	}
	return ""
}
