package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	evsqlite "github.com/tenantstream/tenantstream/events/sqlite"
)

const (
	acmeName     = "acme"
	acmeEmail    = "admin@acme.test"
	acmePassword = "Sup3r-secret!"
)

var (
	// e2eStart is the test clock's first reading: mid-March, so advancing past
	// April 1st plus the grace window closes March.
	e2eStart  = time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)
	e2ePeriod = "2026-03"
	decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	jwtRE     = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
)

// keysOf returns m's keys, sorted.
func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func requireProblem(t *testing.T, r response, status int) map[string]any {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	p := r.JSON(t)
	for _, k := range []string{"type", "title", "status", "detail"} {
		require.Contains(t, p, k, "problem member %s: %s", k, r.Body)
	}
	require.EqualValues(t, status, p["status"])
	return p
}

// TestEndToEnd drives a real server over HTTP through the whole life of a tenant:
// onboarding, login, items, usage, a month's close, the invoice, the notifications
// and the audit; then closes the period again and rebuilds every projection.
func TestEndToEnd(t *testing.T) {
	srv := startServer(t, "", Config{TestClock: true, StartAt: e2eStart})
	data := srv.Data

	// Onboarding.
	r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": acmeName, "email": acmeEmail, "password": acmePassword, "plan": "starter"})
	require.Equal(t, http.StatusCreated, r.Status, "onboard: %s", r.Body)
	onboarded := r.JSON(t)
	assert.Equal(t, []string{"admin_user_id", "plan", "tenant_id", "tenant_name"}, keysOf(onboarded))
	tenantID, _ := onboarded["tenant_id"].(string)
	require.NotEmpty(t, tenantID)
	assert.Equal(t, acmeName, onboarded["tenant_name"])
	assert.Equal(t, "starter", onboarded["plan"])
	assert.NotEmpty(t, onboarded["admin_user_id"])
	assert.Equal(t, "/tenants/"+tenantID, r.Header.Get("Location"))
	tenantPath := "/tenants/" + tenantID

	// Login: Cognito's token shape.
	token, tokens := srv.login(acmeName, acmeEmail, acmePassword)
	assert.Equal(t, []string{"access_token", "expires_in", "id_token", "refresh_token", "token_type"}, keysOf(tokens))
	assert.Equal(t, "Bearer", tokens["token_type"])
	assert.Greater(t, tokens["expires_in"], float64(0))
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		assert.Regexp(t, jwtRE, tokens[k], k)
	}

	t.Run("refresh", func(t *testing.T) {
		r := srv.do(http.MethodPost, "/auth/refresh", "", map[string]any{"refresh_token": tokens["refresh_token"]})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		m := r.JSON(t)
		assert.Equal(t, "Bearer", m["token_type"])
		fresh, _ := m["access_token"].(string)
		require.Regexp(t, jwtRE, fresh)
		r = srv.do(http.MethodGet, tenantPath, fresh, nil)
		assert.Equal(t, http.StatusOK, r.Status, "refreshed token: %s", r.Body)
		// An access token is not a refresh token.
		r = srv.do(http.MethodPost, "/auth/refresh", "", map[string]any{"refresh_token": token})
		requireProblem(t, r, http.StatusUnauthorized)
	})

	t.Run("profile", func(t *testing.T) {
		r := srv.do(http.MethodGet, tenantPath, token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		m := r.JSON(t)
		assert.Equal(t, tenantID, m["tenant_id"])
		assert.Equal(t, acmeName, m["tenant_name"])
		assert.Equal(t, "starter", m["plan"])
	})

	t.Run("items", func(t *testing.T) {
		doc := tenantPath + "/data/doc-1"
		r := srv.do(http.MethodPut, doc, token, `{"title":"hello","n":1}`)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.Equal(t, `"1"`, r.Header.Get("ETag"))

		r = srv.do(http.MethodGet, doc, token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.Equal(t, `"1"`, r.Header.Get("ETag"))
		got := r.JSON(t)
		assert.Equal(t, []string{"data", "item_id", "updated_at", "version"}, keysOf(got))
		assert.Equal(t, "doc-1", got["item_id"])
		assert.Equal(t, map[string]any{"title": "hello", "n": float64(1)}, got["data"])
		assert.EqualValues(t, 1, got["version"])
		_, err := time.Parse(time.RFC3339Nano, got["updated_at"].(string))
		assert.NoError(t, err, "updated_at")

		r = srv.do(http.MethodPut, doc, token, `{"title":"stale"}`, "If-Match", `"7"`)
		requireProblem(t, r, http.StatusPreconditionFailed)
		r = srv.do(http.MethodPut, doc, token, `{"title":"second"}`, "If-Match", `"1"`)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.Equal(t, `"2"`, r.Header.Get("ETag"))
		r = srv.do(http.MethodGet, doc, token, nil)
		require.Equal(t, http.StatusOK, r.Status)
		got = r.JSON(t)
		assert.Equal(t, map[string]any{"title": "second"}, got["data"])
		assert.EqualValues(t, 2, got["version"])

		// Paging: six items, pages of four.
		want := []string{"doc-1"}
		for i := 1; i <= 5; i++ {
			id := fmt.Sprintf("item-%02d", i)
			want = append(want, id)
			r := srv.do(http.MethodPut, tenantPath+"/data/"+id, token, map[string]int{"i": i})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		}
		srv.settle()
		var seen []string
		cursor, pages := "", 0
		for {
			path := tenantPath + "/data?limit=4"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := srv.do(http.MethodGet, path, token, nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			var page struct {
				Items []struct {
					ItemID  string          `json:"item_id"`
					Data    json.RawMessage `json:"data"`
					Version int64           `json:"version"`
				} `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			r.Decode(t, &page)
			pages++
			require.LessOrEqual(t, len(page.Items), 4)
			for _, it := range page.Items {
				seen = append(seen, it.ItemID)
				assert.NotEmpty(t, it.Data)
			}
			if page.NextCursor == "" {
				break
			}
			require.Less(t, pages, 5, "paging does not end")
			cursor = page.NextCursor
		}
		assert.Equal(t, 2, pages)
		assert.ElementsMatch(t, want, seen)

		r = srv.do(http.MethodDelete, doc, token, nil)
		require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
		r = srv.do(http.MethodGet, doc, token, nil)
		requireProblem(t, r, http.StatusNotFound)
	})

	t.Run("usage", func(t *testing.T) {
		at := e2eStart.Add(-time.Minute).Format(time.RFC3339)
		r := srv.do(http.MethodPost, tenantPath+"/usage", token, map[string]any{"events": []map[string]string{
			{"id": "run-1", "meter": "compute_seconds", "quantity": "90", "timestamp": at},
			{"id": "run-2", "meter": "compute_seconds", "quantity": "30.5", "timestamp": at},
		}})
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		assert.Equal(t, map[string]any{"accepted": float64(2), "duplicates": float64(0)}, r.JSON(t))

		// A retried batch (ids known to the store) is counted once: the summary
		// below must still say 120.5.
		r = srv.do(http.MethodPost, tenantPath+"/usage", token, map[string]any{"events": []map[string]string{
			{"id": "run-1", "meter": "compute_seconds", "quantity": "90", "timestamp": at},
			{"id": "run-2", "meter": "compute_seconds", "quantity": "30.5", "timestamp": at},
		}})
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		assert.Equal(t, map[string]any{"accepted": float64(0), "duplicates": float64(2)}, r.JSON(t), "retried usage ids")
	})

	t.Run("billing summary", func(t *testing.T) {
		srv.settle()
		r := srv.do(http.MethodGet, "/billing/"+tenantID, token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		m := r.JSON(t)
		for _, k := range []string{"tenant_id", "plan", "currency", "period", "usage", "lines", "subtotal", "invoices"} {
			require.Contains(t, m, k)
		}
		assert.Equal(t, tenantID, m["tenant_id"])
		assert.Equal(t, "starter", m["plan"])
		assert.Equal(t, "USD", m["currency"])
		period, _ := m["period"].(map[string]any)
		assert.Equal(t, "2026-03-01T00:00:00Z", period["start"])
		assert.Equal(t, "2026-04-01T00:00:00Z", period["end"])
		usage, _ := m["usage"].(map[string]any)
		assert.Equal(t, "120.5", usage["compute_seconds"])
		assert.Regexp(t, decimalRE, m["subtotal"])
		assert.NotEmpty(t, m["lines"])
		for _, l := range m["lines"].([]any) {
			assert.Regexp(t, decimalRE, l.(map[string]any)["amount"])
		}
		assert.Empty(t, m["invoices"])
	})

	memberToken := ""
	t.Run("members and plans", func(t *testing.T) {
		r := srv.do(http.MethodPost, tenantPath+"/users", token, map[string]string{"email": "member@acme.test", "password": "Memb3r-secret!", "role": "tenant_member"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		memberToken, _ = srv.login(acmeName, "member@acme.test", "Memb3r-secret!")

		r = srv.do(http.MethodPut, tenantPath+"/plan", memberToken, map[string]string{"plan": "pro"})
		requireProblem(t, r, http.StatusForbidden)
		r = srv.do(http.MethodPost, tenantPath+"/users", memberToken, map[string]string{"email": "x@acme.test", "password": "Memb3r-secret!"})
		requireProblem(t, r, http.StatusForbidden)
		r = srv.do(http.MethodGet, tenantPath+"/events", memberToken, nil)
		requireProblem(t, r, http.StatusForbidden)
		// A member still works with the tenant's data.
		r = srv.do(http.MethodPut, tenantPath+"/data/member-note", memberToken, `{"by":"member"}`)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

		r = srv.do(http.MethodPut, tenantPath+"/plan", token, map[string]string{"plan": "pro"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.Equal(t, "pro", r.JSON(t)["plan"])
		r = srv.do(http.MethodGet, tenantPath, token, nil)
		assert.Equal(t, "pro", r.JSON(t)["plan"])
	})

	t.Run("event log", func(t *testing.T) {
		r := srv.do(http.MethodGet, tenantPath+"/events?limit=1000", token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var log struct {
			Events []events.Event `json:"events"`
		}
		r.Decode(t, &log)
		var types []string
		for _, e := range log.Events {
			assert.Equal(t, events.TenantID(tenantID), e.TenantID)
			types = append(types, e.Type)
		}
		for _, want := range []string{"tenant.onboarded", "user.added", "item.put", "item.deleted", "tenant.plan_changed"} {
			if !slices.Contains(types, want) {
				// Event type names are the domain's; list them on failure.
				t.Errorf("event log lacks %s; has %v", want, types)
			}
		}
		assert.NotContains(t, string(r.Body), "$argon2id", "a password hash leaked")
		for _, e := range log.Events {
			var d map[string]any
			if json.Unmarshal(e.Data, &d) == nil {
				if h, ok := d["password_hash"]; ok {
					assert.Equal(t, "[redacted]", h)
				}
			}
		}
	})

	t.Run("operations", func(t *testing.T) {
		r := srv.do(http.MethodGet, "/healthz", "", nil)
		assert.Equal(t, http.StatusOK, r.Status)
		r = srv.do(http.MethodGet, "/readyz", "", nil)
		assert.Equal(t, http.StatusOK, r.Status)
		r = srv.do(http.MethodGet, "/metrics", "", nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Contains(t, string(r.Body), "tenantstream_http_request_duration_seconds")
		r = srv.do(http.MethodGet, "/openapi.json", "", nil)
		require.Equal(t, http.StatusOK, r.Status)
		doc := r.JSON(t)
		assert.True(t, strings.HasPrefix(fmt.Sprint(doc["openapi"]), "3.1"), "openapi %v", doc["openapi"])
		paths, _ := doc["paths"].(map[string]any)
		assert.Contains(t, paths, "/onboarding")
		r = srv.do(http.MethodGet, "/.well-known/jwks.json", "", nil)
		require.Equal(t, http.StatusOK, r.Status)
		jwks := r.JSON(t)
		assert.NotEmpty(t, jwks["keys"])
		r = srv.do(http.MethodGet, "/.well-known/openid-configuration", "", nil)
		require.Equal(t, http.StatusOK, r.Status)
		oidc := r.JSON(t)
		assert.Equal(t, srv.URL, oidc["issuer"])
		assert.Equal(t, srv.URL+"/.well-known/jwks.json", oidc["jwks_uri"])
	})

	// Close March: move the test clock past April 1st plus the one-hour grace.
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-03-01T00:00:00Z"})
	requireProblem(t, r, http.StatusBadRequest)
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-04-01T01:30:00Z"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = srv.do(http.MethodGet, tenantPath, token, nil)
	requireProblem(t, r, http.StatusUnauthorized) // checked against the test clock: expired
	token, _ = srv.login(acmeName, acmeEmail, acmePassword)

	var invoice map[string]any
	t.Run("invoice", func(t *testing.T) {
		srv.settle()
		r := srv.do(http.MethodGet, "/billing/"+tenantID+"/invoices", token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var list struct {
			Invoices []map[string]any `json:"invoices"`
		}
		r.Decode(t, &list)
		require.Len(t, list.Invoices, 1, "%s", r.Body)
		invoice = list.Invoices[0]
		requireInvoiceShape(t, invoice)
		assert.EqualValues(t, 1, invoice["number"])
		assert.Equal(t, e2ePeriod, invoice["period"])
		assert.Equal(t, "USD", invoice["currency"])

		id := invoice["invoice_id"].(string)
		r = srv.do(http.MethodGet, "/billing/"+tenantID+"/invoices/"+id, token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		one := r.JSON(t)
		assert.Equal(t, id, one["invoice_id"])
		assert.Equal(t, invoice["subtotal"], one["subtotal"])
		r = srv.do(http.MethodGet, "/billing/"+tenantID+"/invoices/inv_nope", token, nil)
		requireProblem(t, r, http.StatusNotFound)
	})
	require.NotNil(t, invoice, "no invoice; the rest depends on it")
	invoiceID := invoice["invoice_id"].(string)

	t.Run("notifications", func(t *testing.T) {
		// Delivery runs right after the close, and again every DeliverInterval.
		var types []string
		require.Eventually(t, func() bool {
			out, _, err := runCLI(t, "notifications", "list", "--json", "--data", data)
			if err != nil {
				return false
			}
			var notes []struct {
				ID        string    `json:"id"`
				Type      string    `json:"type"`
				TenantID  string    `json:"tenant_id"`
				CreatedAt time.Time `json:"created_at"`
			}
			if json.Unmarshal([]byte(out), &notes) != nil {
				return false
			}
			types = types[:0]
			for _, n := range notes {
				if n.TenantID == tenantID && n.ID != "" && !n.CreatedAt.IsZero() {
					types = append(types, n.Type)
				}
			}
			return slices.Contains(types, "tenant.onboarded") && slices.Contains(types, "invoice.issued")
		}, 10*time.Second, 20*time.Millisecond, "notifications for the tenant: %v", types)
	})

	audit := func(t *testing.T, extra ...string) (map[string]any, int) {
		t.Helper()
		args := append([]string{"billing", "audit", "--tenant", tenantID, "--period", e2ePeriod, "--json", "--data", data}, extra...)
		out, errOut, err := runCLI(t, args...)
		var rep map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &rep), "audit output %q, stderr %q, err %v", out, errOut, err)
		return rep, exitStatus(err)
	}
	t.Run("audit", func(t *testing.T) {
		rep, code := audit(t)
		assert.Equal(t, 0, code)
		assert.Equal(t, true, rep["match"])
		assert.Equal(t, invoiceID, rep["invoice_id"])

		// Prices come from the price book in the store, never from a file: an
		// audit handed a dearer catalogue still recomputes the invoice as issued
		// (docs/ARCHITECTURE.md, decision 14). The mismatch path (exit 1) is the
		// forged invoice of the commands tests.
		raw, err := os.ReadFile(filepath.Join("..", "..", "commands", "catalog", "default.yaml"))
		require.NoError(t, err)
		dear := strings.Replace(string(raw), `base_fee: "19.00"`, `base_fee: "1900.00"`, 1)
		dear = strings.Replace(dear, `base_fee: "99.00"`, `base_fee: "9900.00"`, 1)
		require.NotEqual(t, string(raw), dear)
		path := filepath.Join(t.TempDir(), "dear.yaml")
		require.NoError(t, os.WriteFile(path, []byte(dear), 0o644))
		rep, code = audit(t, "--catalog", path)
		assert.Equal(t, 0, code)
		assert.Equal(t, true, rep["match"])
	})

	// A second close changes nothing; a rebuild changes nothing.
	srv.Stop()
	t.Run("close twice", func(t *testing.T) {
		out, errOut, err := runCLI(t, "billing", "close", "--period", e2ePeriod, "--tenant", tenantID, "--data", data)
		require.NoError(t, err, "stderr: %s", errOut)
		assert.Contains(t, out, "already closed")
		out, errOut, err = runCLI(t, "billing", "close", "--period", e2ePeriod, "--data", data)
		require.NoError(t, err, "stderr: %s", errOut)
		assert.Contains(t, out, "already closed")
		assert.NotContains(t, out, "issued invoice")
		assert.Equal(t, 1, countEvents(t, data, tenantID, "invoice.issued"))
	})

	t.Run("rebuild", func(t *testing.T) {
		out, errOut, err := runCLI(t, "projections", "rebuild", "--all", "--data", data)
		require.NoError(t, err, "stderr: %s", errOut)
		assert.Contains(t, out, "rebuilt invoices")
		rep, code := audit(t)
		assert.Equal(t, 0, code)
		assert.Equal(t, true, rep["match"])

		srv := startServer(t, data, Config{TestClock: true})
		token, _ := srv.login(acmeName, acmeEmail, acmePassword)
		r := srv.do(http.MethodGet, "/billing/"+tenantID+"/invoices", token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var list struct {
			Invoices []map[string]any `json:"invoices"`
		}
		r.Decode(t, &list)
		require.Len(t, list.Invoices, 1)
		assert.Equal(t, invoice, list.Invoices[0], "the invoice changed in the rebuild")
		r = srv.do(http.MethodGet, tenantPath+"/data?limit=100", token, nil)
		require.Equal(t, http.StatusOK, r.Status)
		var page struct {
			Items []struct {
				ItemID string `json:"item_id"`
			} `json:"items"`
		}
		r.Decode(t, &page)
		var ids []string
		for _, it := range page.Items {
			ids = append(ids, it.ItemID)
		}
		assert.ElementsMatch(t, []string{"item-01", "item-02", "item-03", "item-04", "item-05", "member-note"}, ids)
	})
}

func requireInvoiceShape(t *testing.T, inv map[string]any) {
	t.Helper()
	for _, k := range []string{"invoice_id", "number", "period", "currency", "lines", "subtotal"} {
		require.Contains(t, inv, k)
	}
	assert.Regexp(t, `^[0-9]{4}-[0-9]{2}$`, inv["period"])
	assert.Regexp(t, decimalRE, inv["subtotal"])
	lines, _ := inv["lines"].([]any)
	require.NotEmpty(t, lines)
	for _, l := range lines {
		line := l.(map[string]any)
		assert.Regexp(t, decimalRE, line["amount"])
		assert.Regexp(t, decimalRE, line["quantity"])
	}
}

// countEvents counts a tenant's events of one type straight from the store.
func countEvents(t *testing.T, data, tenantID, typ string) int {
	t.Helper()
	st, err := evsqlite.Open(filepath.Join(data, "events.db"))
	require.NoError(t, err)
	defer st.Close()
	n := 0
	var after events.Cursor
	for {
		page, err := st.ReadTenant(t.Context(), events.TenantID(tenantID), after, events.ReadOptions{Limit: 1000})
		require.NoError(t, err)
		for _, e := range page.Events {
			if e.Type == typ {
				n++
			}
		}
		after = page.Next
		if !page.More || len(page.Events) == 0 {
			return n
		}
	}
}

// TestTestClock checks that the test clock is refused when off and only moves forward.
func TestTestClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		on     bool
		now    string
		status int
	}{
		{"off is 404", false, "2030-01-01T00:00:00Z", http.StatusNotFound},
		{"backwards is 400", true, "2020-01-01T00:00:00Z", http.StatusBadRequest},
		{"not RFC 3339 is 400", true, "tomorrow", http.StatusBadRequest},
		{"forward is 200", true, "2030-01-01T00:00:00Z", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "", Config{TestClock: tt.on, StartAt: e2eStart})
			r := srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": tt.now})
			if tt.status != http.StatusOK {
				requireProblem(t, r, tt.status)
				return
			}
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.True(t, srv.App.Clock.Now().After(time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC)))
		})
	}
}
