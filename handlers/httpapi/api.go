package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/problem"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

// Body limits.
const (
	maxCommandBody = 16 << 10
	maxItemBody    = 64 << 10
	maxUsageBody   = 1 << 20
)

// Authenticator verifies a request's credentials (auth.Bearer, lambdaapi.Authenticate).
type Authenticator = auth.Authenticator

// Logins issues tokens.
type Logins interface {
	Login(ctx context.Context, c commands.Login) (commands.Tokens, error)
	Refresh(ctx context.Context, refreshToken string) (commands.Tokens, error)
	Logout(ctx context.Context, refreshToken string) error
	ChangePassword(ctx context.Context, m commands.Meta, c commands.ChangePassword, policy commands.PasswordPolicy) (commands.Tokens, error)
	AcceptInvitation(ctx context.Context, m commands.Meta, c commands.AcceptInvitation, policy commands.PasswordPolicy) (commands.Tokens, error)
}

// Billing answers the billing queries.
type Billing interface {
	Summary(ctx context.Context, m commands.Meta, tenant string) (commands.Summary, error)
	Invoices(ctx context.Context, m commands.Meta, tenant string) (commands.InvoiceList, error)
	Invoice(ctx context.Context, m commands.Meta, tenant, invoiceID string) (json.RawMessage, error)
	Credits(ctx context.Context, m commands.Meta, tenant string) (commands.CreditsView, error)
}

// UsageCounter counts a tenant's API requests (the api_requests meter).
type UsageCounter interface {
	// CountRequest counts one request; ctx is the request's (the api function
	// counts on a Meter carried by it, docs/aws.md "Built-in meters").
	CountRequest(ctx context.Context, tenant string, at time.Time)
}

// API holds what the routes need. Fields left nil disable their feature.
type API struct {
	Service        *commands.Service
	Authenticate   Authenticator
	Logins         Logins
	Billing        Billing
	Meters         commands.MeterCatalog
	PasswordPolicy commands.PasswordPolicy
	Usage          UsageCounter
	// TestClock, when set, enables POST /test-clock; Advanced runs the work that
	// became due (period closes) before the request answers.
	TestClock *clock.Test
	Advanced  func(ctx context.Context) error
	// WellKnown serves /.well-known/jwks.json and /.well-known/openid-configuration.
	JWKS, OpenIDConfig http.Handler
	Metrics            *Metrics
	Ready              func(ctx context.Context) error
	OpenAPI            []byte
	Log                *slog.Logger

	// OnboardingLimit limits POST /onboarding per client address (the host of
	// RemoteAddr, ratelimit.ClientKey); nil limits nothing. It is per process:
	// see docs/api.md for the platform-wide guard on AWS.
	OnboardingLimit *ratelimit.Limiter
	// PasswordResetLimit limits POST /auth/password-reset per client address
	// (DefaultPasswordResetRate where the binaries wire it); nil limits nothing.
	// The per-account bound is the command's and holds across processes.
	PasswordResetLimit *ratelimit.Limiter
	// TenantLimit limits each tenant's authenticated requests per route class
	// at its plan version's rate_limits (ratelimits.go, docs/api.md "Rate
	// limits"); nil limits no tenant. One per process: see docs/aws.md for
	// what holds across api instances.
	TenantLimit TenantLimiter
	// TenantLimitHold is how long, on average, a tenant's 429 is held before
	// it is answered (ratelimits.go, holdRefusal); 0 answers at once.
	TenantLimitHold time.Duration

	// CORS, when set, answers browsers on the origins it allows (NewCORS);
	// nil sends no CORS header at all. The local server sets it from
	// --cors-origin; behind API Gateway the stack's corsOrigins configures the
	// HTTP API to answer instead, so the api function leaves it nil.
	CORS *CORS

	routes []Route // what Handler registered, for Routes
}

// Handler returns the API's single http.Handler.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.routes = nil
	handle := func(pattern string, authed bool, h func(w http.ResponseWriter, r *http.Request) error) {
		route := pattern
		if i := strings.IndexByte(route, ' '); i >= 0 {
			route = route[i+1:]
		}
		if authed {
			h = a.limitTenant(requireScope(onlyQueryParams(h, queryParams[pattern]...), pattern), pattern)
		}
		var hh http.Handler = a.wrap(h)
		if authed {
			hh = a.requireAuth(hh)
		}
		mux.Handle(pattern, routed(route, hh))
		a.routes = append(a.routes, Route{Pattern: pattern, Authed: authed})
	}
	public := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		a.routes = append(a.routes, Route{Pattern: pattern})
	}
	handle("POST /onboarding", false, a.onboard)
	handle("POST /auth/login", false, a.login)
	handle("POST /auth/refresh", false, a.refresh)
	handle("POST /auth/logout", false, a.logout)
	handle("POST /auth/password", true, a.changePassword)
	handle("POST /auth/password-reset", false, a.requestPasswordReset)
	handle("POST /auth/password-reset/confirm", false, a.confirmPasswordReset)
	handle("POST /invitations/accept", false, a.acceptInvitation)
	if a.JWKS != nil {
		public("GET /.well-known/jwks.json", a.JWKS)
	}
	if a.OpenIDConfig != nil {
		public("GET /.well-known/openid-configuration", a.OpenIDConfig)
	}
	handle("GET /me", true, a.me)
	handle("GET /tenants/{tenant_id}", true, a.getTenant)
	handle("PUT /tenants/{tenant_id}/plan", true, a.changePlan)
	handle("POST /tenants/{tenant_id}/users", true, a.addUser)
	handle("GET /tenants/{tenant_id}/users", true, a.listUsers)
	handle("PATCH /tenants/{tenant_id}/users/{user_id}", true, a.patchUser)
	handle("DELETE /tenants/{tenant_id}/users/{user_id}", true, a.removeUser)
	handle("POST /tenants/{tenant_id}/invitations", true, a.createInvitation)
	handle("GET /tenants/{tenant_id}/invitations", true, a.listInvitations)
	handle("DELETE /tenants/{tenant_id}/invitations/{invitation_id}", true, a.revokeInvitation)
	handle("POST /tenants/{tenant_id}/api-keys", true, a.createAPIKey)
	handle("GET /tenants/{tenant_id}/api-keys", true, a.listAPIKeys)
	handle("DELETE /tenants/{tenant_id}/api-keys/{key_id}", true, a.revokeAPIKey)
	handle("GET /tenants/{tenant_id}/events", true, a.eventLog)
	handle("GET /tenants/{tenant_id}/audit-log", true, a.auditLog)
	handle("GET /tenants/{tenant_id}/data", true, a.listItems)
	handle("PUT /tenants/{tenant_id}/data/{item_id}", true, a.putItem)
	handle("GET /tenants/{tenant_id}/data/{item_id}", true, a.getItem)
	handle("DELETE /tenants/{tenant_id}/data/{item_id}", true, a.deleteItem)
	handle("POST /tenants/{tenant_id}/usage", true, a.recordUsage)
	handle("GET /tenants/{tenant_id}/entitlements", true, a.entitlements)
	handle("GET /tenants/{tenant_id}/entitlements/{feature}", true, a.entitlement)
	handle("GET /tenants/{tenant_id}/alerts", true, a.alerts)
	handle("PUT /tenants/{tenant_id}/alerts", true, a.configureAlerts)
	handle("GET /billing/{tenant_id}", true, a.billingSummary)
	handle("GET /billing/{tenant_id}/invoices", true, a.invoices)
	handle("GET /billing/{tenant_id}/invoices/{invoice_id}", true, a.invoice)
	handle("GET /billing/{tenant_id}/credits", true, a.credits)
	a.adminRoutes(handle) // the operator plane (admin.go)
	handle("POST /test-clock", false, a.advanceClock)
	handle("GET /healthz", false, func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("GET /readyz", false, a.ready)
	handle("GET /openapi.json", false, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(a.OpenAPI)
		return err
	})
	if a.Metrics != nil {
		public("GET /metrics", a.Metrics.Handler())
	}
	a.methodsNotAllowed(mux)
	mux.Handle("/", a.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(domain.CodeNotFound, "no route %s %s", r.Method, r.URL.Path)
	}))
	notFound := a.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return domain.Errorf(domain.CodeNotFound, "no route %s %s", r.Method, r.URL.Path)
	})
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux answers a path that is not clean (an empty segment, "." or
		// "..") with a 301/307 to the cleaned one; no route of this API has such a
		// path, and a redirect would send a PUT's body elsewhere: 404 instead.
		if p := r.URL.Path; p != "" && p[0] == '/' && path.Clean(p) != p && !(strings.HasSuffix(p, "/") && path.Clean(p)+"/" == p) {
			notFound.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	if a.CORS != nil {
		// Inside withRequestID: preflights get a request id and are logged too.
		h = a.CORS.Handler(h)
	}
	return a.withRequestID(h)
}

// methodsNotAllowed registers, for each path of a.routes, a method-less pattern
// that answers 405 with Allow (RFC 9110 section 15.5.6) as problem+json. ServeMux
// would answer 405 itself, but the catch-all "/" (which makes unknown paths a
// problem+json 404) matches first; a method-less pattern on the path is more
// specific than "/" and less specific than every "METHOD /path" on it.
func (a *API) methodsNotAllowed(mux *http.ServeMux) {
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range a.routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if allowed[path] == nil {
			paths = append(paths, path)
		}
		allowed[path] = append(allowed[path], method)
		if method == http.MethodGet {
			allowed[path] = append(allowed[path], http.MethodHead) // ServeMux serves HEAD with GET
		}
	}
	for _, path := range paths {
		methods := allowed[path]
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		mux.Handle(path, a.wrap(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return domain.Errorf(domain.CodeMethodNotAllowed, "%s is not allowed on %s; use %s.", r.Method, r.URL.Path, allow)
		}))
	}
}

func principalFrom(ctx context.Context) identity.Principal {
	p, _ := auth.PrincipalFrom(ctx)
	return p
}

// requireAuth is auth.Middleware with the API's authenticator, its problem
// writer, and the api_requests meter counting every authenticated request.
// Tenant principals' requests reach the stores with their tenant's credentials
// only (docs/ARCHITECTURE.md, decision 9d); platform admins stay unscoped.
func (a *API) requireAuth(next http.Handler) http.Handler {
	return auth.Middleware(a.Authenticate, a.fail, func(r *http.Request, p identity.Principal) {
		if ri := infoFrom(r.Context()); ri != nil {
			ri.tenant = p.TenantID
		}
		if a.Usage != nil && p.TenantID != "" {
			a.Usage.CountRequest(r.Context(), p.TenantID, a.Service.Clock.Now())
		}
	})(next)
}

// requestInfo is what the access log learns while a request is served: the
// route pattern (from routed) and the tenant (from requireAuth).
type requestInfo struct {
	route, tenant string
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// withRequestID gives every request an id (X-Request-Id, in every log line and
// problem) and logs it once served: method, route pattern (never the raw path
// alone: it may hold ids), tenant, status and latency, as docs/api.md says.
func (a *API) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		ri := &requestInfo{}
		rec := &statusRecorder{ResponseWriter: w}
		ctx := context.WithValue(problem.WithRequestID(r.Context(), id), requestInfoKey{}, ri)
		next.ServeHTTP(rec, r.WithContext(ctx))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		took := time.Since(start)
		a.Metrics.observe(r.Method, ri.route, rec.status, took)
		log := a.log()
		if !log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", ri.route),
			slog.String("tenant_id", ri.tenant), slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000))
	})
}

// wrap turns an error-returning handler into an http.Handler; errors become
// problem+json, and a panic becomes a logged 500, never a dropped connection.
func (a *API) wrap(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				a.log().ErrorContext(r.Context(), "panic in handler", "panic", v, "path", r.URL.Path, "request_id", problem.RequestIDFrom(r.Context()))
				problem.WriteProblem(w, problem.From(r, &domain.Error{Code: domain.CodeInternal, Message: "internal error"})) // logged above
			}
		}()
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// statusClientClosed is what a request whose client went away is recorded
// as (nginx's 499): not a 5xx, since the server did not fail, and never sent,
// since nobody is there to read it.
const statusClientClosed = 499

// fail answers err as problem+json, logging server-side failures once. When the
// request's context was canceled (the client disconnected) the error is most
// likely that cancellation, surfacing through a store: it is logged at Info and
// the request recorded as 499, so neither the error log nor the 5xx metrics
// count a client that hung up.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		a.log().InfoContext(r.Context(), "client closed the request", "method", r.Method, "path", r.URL.Path, "request_id", problem.RequestIDFrom(r.Context()), "error", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	problem.Responder{Logger: a.log()}.Write(w, r, err)
}

func (a *API) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// meta reads what every command carries. With an Idempotency-Key, the body is
// hashed as the handler reads it; call finishFingerprint after decoding it.
func (a *API) meta(r *http.Request) (commands.Meta, error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		return commands.Meta{}, domain.FieldError("Idempotency-Key", "at most 200 characters")
	}
	for i := 0; i < len(key); i++ {
		// Printable ASCII only: keys become DynamoDB keys, which must be UTF-8.
		if key[i] < 0x20 || key[i] > 0x7e {
			return commands.Meta{}, domain.FieldError("Idempotency-Key", "must be printable ASCII, such as a UUID")
		}
	}
	m := commands.Meta{Principal: principalFrom(r.Context()), IdempotencyKey: key, CorrelationID: problem.RequestIDFrom(r.Context())}
	startFingerprint(r, m)
	return m, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// queryParams are the query parameters each authenticated route reads; any other
// is refused (docs/api.md, "Requests and pages"). Routes not listed take none.
var queryParams = map[string][]string{
	"GET /tenants/{tenant_id}/events":      {"limit", "after"},
	"GET /tenants/{tenant_id}/users":       {"limit", "after"},
	"GET /tenants/{tenant_id}/invitations": {"limit", "after"},
	"GET /tenants/{tenant_id}/audit-log":   {"limit", "after"},
	"GET /tenants/{tenant_id}/data":        {"limit", "cursor"},
}

// anyKey is the routeScopes entry of a route open to every API key, whatever
// its scopes. It is not a scope (apikey.ValidScope refuses it), so no key can be
// given it, and a route is open to keys without a scope only when it says so.
const anyKey = "(any key)"

// routeScopes is the scope an API key needs for each route it may use
// (docs/ARCHITECTURE.md, "API keys"), or anyKey. A route not listed is never
// open to a key: the tenant profile, its plan, users, API keys, the event log
// and the audit log need a user's token.
var routeScopes = map[string]string{
	"GET /me":                                         anyKey, // the caller's own identity
	"GET /tenants/{tenant_id}/data":                   apikey.ScopeDataRead,
	"GET /tenants/{tenant_id}/data/{item_id}":         apikey.ScopeDataRead,
	"PUT /tenants/{tenant_id}/data/{item_id}":         apikey.ScopeDataWrite,
	"DELETE /tenants/{tenant_id}/data/{item_id}":      apikey.ScopeDataWrite,
	"POST /tenants/{tenant_id}/usage":                 apikey.ScopeUsageWrite,
	"GET /tenants/{tenant_id}/entitlements":           apikey.ScopeBillingRead,
	"GET /tenants/{tenant_id}/entitlements/{feature}": apikey.ScopeBillingRead,
	"GET /tenants/{tenant_id}/alerts":                 apikey.ScopeBillingRead,
	"GET /billing/{tenant_id}":                        apikey.ScopeBillingRead,
	"GET /billing/{tenant_id}/invoices":               apikey.ScopeBillingRead,
	"GET /billing/{tenant_id}/invoices/{invoice_id}":  apikey.ScopeBillingRead,
	"GET /billing/{tenant_id}/credits":                apikey.ScopeBillingRead,
}

// requireScope refuses an API key a route outside its scopes: a 403 naming the
// scope it lacks, or saying the route takes no keys. A route mapped to anyKey
// takes every key. User tokens pass (their roles are checked by the commands).
func requireScope(h func(w http.ResponseWriter, r *http.Request) error, pattern string) func(w http.ResponseWriter, r *http.Request) error {
	scope, open := routeScopes[pattern]
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		if p.KeyID != "" {
			if !open {
				return domain.Errorf(domain.CodeForbidden, "API keys cannot use %s; use a user's token", pattern)
			}
			if scope != anyKey && !p.HasScope(scope) {
				return &domain.Error{Code: domain.CodeForbidden, Field: "scope", Message: fmt.Sprintf("This API key lacks the %s scope.", scope)}
			}
		}
		return h(w, r)
	}
}

// onlyQueryParams refuses a request whose query string names a parameter not in
// allowed, names one twice, or does not parse: a 400 whose errors[].field is the
// parameter. Ignoring it would answer a question the client did not ask (a
// misspelt ?limt=5, a ?tenant=other that does nothing) as if it had.
func onlyQueryParams(h func(w http.ResponseWriter, r *http.Request) error, allowed ...string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.RawQuery == "" {
			return h(w, r)
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return &domain.Error{Code: domain.CodeInvalid, Message: "The query string is malformed.", Err: err}
		}
		names := slices.Sorted(maps.Keys(q))
		var errs []error
		for _, name := range names {
			shown := name
			if len(shown) > 64 {
				shown = strings.ToValidUTF8(shown[:64], "") + "..."
			}
			switch {
			case !slices.Contains(allowed, name) && len(allowed) == 0:
				errs = append(errs, domain.FieldError(shown, "Query parameter %q is not allowed; this route takes none.", shown))
			case !slices.Contains(allowed, name):
				errs = append(errs, domain.FieldError(shown, "Query parameter %q is not allowed; this route takes %s.", shown, strings.Join(allowed, ", ")))
			case len(q[name]) > 1:
				errs = append(errs, domain.FieldError(shown, "Query parameter %q is given more than once.", shown))
			}
			if len(errs) == 10 {
				break
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		return h(w, r)
	}
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string, def, max int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, domain.FieldError(name, "must be an integer from 1 to %d", max)
	}
	return n, nil
}
