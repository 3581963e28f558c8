package httpapi

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/problem"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

// OnboardRequest is the body of POST /onboarding.
type OnboardRequest struct {
	TenantName string `json:"tenant_name"`
	Email      string `json:"email"`
	Password   string `json:"password"`
	Plan       string `json:"plan,omitempty"`
}

// DefaultOnboardingRate is the per-address limit of anonymous onboarding that
// tenantstream serve and the api function apply unless configured otherwise.
var DefaultOnboardingRate = ratelimit.Rate{N: 5, Per: time.Minute, Burst: 5}

// OnboardingRate reads the onboarding limit as configured (serve's
// --onboarding-rate and --onboarding-burst, the api function's
// TENANTSTREAM_ONBOARDING_RATE and TENANTSTREAM_ONBOARDING_BURST): spec as
// ratelimit.ParseRate reads it, "" meaning DefaultOnboardingRate; burst 0 keeps
// the default burst (or, with a spec, the spec's count).
func OnboardingRate(spec string, burst int) (ratelimit.Rate, error) {
	if spec == "" {
		r := DefaultOnboardingRate
		if burst < 0 {
			return ratelimit.Rate{}, fmt.Errorf("onboarding burst %d: must not be negative", burst)
		}
		if burst > 0 {
			r.Burst = burst
		}
		return r, nil
	}
	r, err := ratelimit.ParseRate(spec, burst)
	if err != nil {
		return ratelimit.Rate{}, fmt.Errorf("onboarding rate: %w", err)
	}
	return r, nil
}

// rateLimited is a 429 with a Retry-After (problem.RetryAfterer).
type rateLimited struct {
	wait time.Duration
	msg  string
}

func (e *rateLimited) Error() string             { return e.msg }
func (e *rateLimited) RetryAfter() time.Duration { return e.wait }
func (e *rateLimited) Unwrap() error {
	return &domain.Error{Code: domain.CodeRateLimited, Message: e.msg}
}

func (a *API) onboard(w http.ResponseWriter, r *http.Request) error {
	// Every request counts, before any work: each may cost a password hash and
	// reserve a name.
	if ok, wait := a.OnboardingLimit.Allow(ratelimit.ClientKey(r.RemoteAddr)); !ok {
		return &rateLimited{wait: wait, msg: "Too many onboarding requests from this address; retry later."}
	}
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body OnboardRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	finishFingerprintOf(r, &m, OnboardRequest{TenantName: body.TenantName, Email: body.Email, Plan: body.Plan})
	out, err := a.Service.Onboard(r.Context(), m, commands.Onboard{TenantName: body.TenantName, Email: body.Email, Password: body.Password, Plan: body.Plan}, a.PasswordPolicy)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/tenants/"+out.TenantID)
	return writeJSON(w, http.StatusCreated, out)
}

// LoginRequest is the body of POST /auth/login.
type LoginRequest struct {
	TenantName string `json:"tenant_name"`
	Email      string `json:"email"`
	Password   string `json:"password"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var body LoginRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	t, err := a.Logins.Login(r.Context(), commands.Login{TenantName: body.TenantName, Email: body.Email, Password: body.Password, ClientIP: clientHost(r)})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, t)
}

// RefreshRequest is the body of POST /auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// clientHost is the host of the request's remote address.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) refresh(w http.ResponseWriter, r *http.Request) error {
	var body RefreshRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	t, err := a.Logins.Refresh(r.Context(), body.RefreshToken)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, t)
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Service.Me(r.Context(), m)
	})(w, r)
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Service.GetTenant(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

// PlanRequest is the body of PUT /tenants/{tenant_id}/plan.
type PlanRequest struct {
	Plan string `json:"plan"`
}

func (a *API) changePlan(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body PlanRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	finishFingerprint(r, &m)
	t, err := a.Service.ChangePlan(r.Context(), m, r.PathValue("tenant_id"), body.Plan)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

// AddUserRequest is the body of POST /tenants/{tenant_id}/users.
type AddUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Role     string `json:"role,omitempty"`
}

func (a *API) addUser(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body AddUserRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	finishFingerprintOf(r, &m, AddUserRequest{Email: body.Email, Role: body.Role})
	u, err := a.Service.AddUser(r.Context(), m, commands.AddUser{Tenant: r.PathValue("tenant_id"), Email: body.Email, Password: body.Password, Role: body.Role}, a.PasswordPolicy)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

// APIKeyRequest is the body of POST /tenants/{tenant_id}/api-keys.
type APIKeyRequest struct {
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body APIKeyRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	finishFingerprint(r, &m)
	k, err := a.Service.CreateAPIKey(r.Context(), m, commands.CreateAPIKey{Tenant: r.PathValue("tenant_id"), Name: body.Name, Scopes: body.Scopes, ExpiresAt: body.ExpiresAt})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the secret is in this answer only
	return writeJSON(w, http.StatusCreated, k)
}

func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Service.ListAPIKeys(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

func (a *API) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	if err := a.Service.RevokeAPIKey(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("key_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) eventLog(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	page, err := a.Service.EventLog(r.Context(), m, r.PathValue("tenant_id"), events.Cursor(r.URL.Query().Get("after")), limit)
	if err != nil {
		return err
	}
	evs := page.Events
	if evs == nil {
		evs = []events.Event{}
	}
	// next_cursor is the name every list uses; next is kept, the same value, for
	// clients written before.
	return writeJSON(w, http.StatusOK, map[string]any{"events": evs, "next_cursor": string(page.Next), "next": string(page.Next), "more": page.More})
}

func (a *API) auditLog(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		limit, err := queryInt(r, "limit", 100, 1000)
		if err != nil {
			return nil, err
		}
		return a.Service.AuditLog(r.Context(), m, r.PathValue("tenant_id"), events.Cursor(r.URL.Query().Get("after")), limit)
	})(w, r)
}

// itemView is how the API shows an item.
type itemView struct {
	ItemID    string          `json:"item_id"`
	Data      json.RawMessage `json:"data"`
	Version   int64           `json:"version"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func viewOf(it item.Item) itemView {
	return itemView{ItemID: it.ID, Data: it.Data, Version: it.Version, UpdatedAt: it.UpdatedAt}
}

// writeItem answers with one item (never a deleted one), its version as the
// ETag. item.AppendJSON writes encoding/json's bytes for itemView without
// reflecting or re-compacting the data (the generic encoder was about a tenth of
// the handler's CPU on PUT and GET); the one difference is that <, >, & and
// U+2028/U+2029 inside the data stay unescaped, the same JSON value.
func writeItem(w http.ResponseWriter, it item.Item) error {
	h := w.Header()
	h.Set("ETag", etag(it.Version))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(append(it.AppendJSON(make([]byte, 0, 96+len(it.ID)+len(it.Data))), '\n'))
	return err
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func (a *API) putItem(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	pre, err := preconditions(r)
	if err != nil {
		return err
	}
	var data json.RawMessage
	if err := problem.DecodeJSON(r, maxItemBody, &data); err != nil {
		return err
	}
	finishFingerprint(r, &m)
	it, err := a.Service.PutItem(r.Context(), m, commands.PutItem{Tenant: r.PathValue("tenant_id"), ItemID: r.PathValue("item_id"), Data: data, If: pre})
	if err != nil {
		return err
	}
	return writeItem(w, it)
}

func (a *API) getItem(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	pre, err := preconditions(r)
	if err != nil {
		return err
	}
	it, err := a.Service.GetItem(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("item_id"))
	if err != nil {
		return err
	}
	// RFC 9110 13.2.2: a failed If-Match is 412; a failed If-None-Match on a GET
	// is 304 with the current ETag and no body.
	switch pre.Failed(true, it.Version) {
	case "If-Match":
		return &domain.Error{Code: domain.CodePreconditionFailed, Field: "If-Match", Message: fmt.Sprintf("item %q is at version %d, which fails If-Match", it.ID, it.Version)}
	case "If-None-Match":
		w.Header().Set("ETag", etag(it.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return writeItem(w, it)
}

func (a *API) deleteItem(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	pre, err := preconditions(r)
	if err != nil {
		return err
	}
	finishFingerprint(r, &m)
	if err := a.Service.DeleteItem(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("item_id"), pre); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listItems(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100, commands.MaxListItems)
	if err != nil {
		return err
	}
	items, next, err := a.Service.ListItems(r.Context(), m, r.PathValue("tenant_id"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	// Each item as writeItem shows it (item.AppendJSON), so that the page's size is
	// what ListItems capped: encoding/json would re-escape <, > and & in the data,
	// up to six times its bytes.
	size := 64 + len(next)
	for _, it := range items {
		size += 96 + len(it.ID) + len(it.Data)
	}
	b := append(make([]byte, 0, size), `{"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.AppendJSON(b)
	}
	nc, _ := json.Marshal(next) // a string: cannot fail
	b = append(append(append(b, `],"next_cursor":`...), nc...), "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// UsageRequest is the body of POST /tenants/{tenant_id}/usage.
type UsageRequest struct {
	Events []UsageEvent `json:"events"`
}

// UsageEvent is one reported usage record.
type UsageEvent struct {
	ID         string            `json:"id"`
	Meter      string            `json:"meter"`
	Quantity   string            `json:"quantity"`
	Timestamp  time.Time         `json:"timestamp"`
	Properties map[string]string `json:"properties,omitempty"`
}

func (a *API) recordUsage(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body UsageRequest
	if err := problem.DecodeJSON(r, maxUsageBody, &body); err != nil {
		return err
	}
	finishFingerprint(r, &m)
	recs := make([]commands.UsageRecord, len(body.Events))
	for i, e := range body.Events {
		recs[i] = commands.UsageRecord{ID: e.ID, Meter: e.Meter, Quantity: e.Quantity, Timestamp: e.Timestamp, Properties: e.Properties}
	}
	res, err := a.Service.RecordUsage(r.Context(), m, r.PathValue("tenant_id"), a.Meters, recs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, res)
}

// query answers a read-only route: fn's result as 200 JSON.
func (a *API) query(fn func(r *http.Request, m commands.Meta) (any, error)) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		m, err := a.meta(r)
		if err != nil {
			return err
		}
		v, err := fn(r, m)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) billingSummary(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Billing.Summary(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

func (a *API) invoices(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Billing.Invoices(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

func (a *API) invoice(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Billing.Invoice(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("invoice_id"))
	})(w, r)
}

// credits answers the balance, grants and ledger of the tenant's prepaid
// credits. Nothing on the API grants credit: only operators do (the CLI).
func (a *API) credits(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Billing.Credits(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

// ClockRequest is the body of POST /test-clock.
type ClockRequest struct {
	Now time.Time `json:"now"`
}

func (a *API) advanceClock(w http.ResponseWriter, r *http.Request) error {
	if a.TestClock == nil {
		return domain.Errorf(domain.CodeNotFound, "no route %s %s", r.Method, r.URL.Path)
	}
	var body ClockRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	if body.Now.IsZero() {
		return domain.FieldError("now", "is required (RFC 3339)")
	}
	if err := a.TestClock.Set(body.Now); err != nil {
		return domain.FieldError("now", "the test clock only moves forward (it is at %s)", a.TestClock.Now().Format(time.RFC3339))
	}
	if a.Advanced != nil {
		if err := a.Advanced(r.Context()); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"now": a.TestClock.Now().Format(time.RFC3339Nano)})
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) error {
	if a.Ready != nil {
		if err := a.Ready(r.Context()); err != nil {
			return &domain.Error{Code: domain.CodeUnavailable, Message: "not ready", Err: err}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
