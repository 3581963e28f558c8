package httpapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/events"
)

// auditEntry is one entry of GET /tenants/{tenant_id}/audit-log.
type auditEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	Actor  struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"actor"`
	Target struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"target"`
	Details map[string]any `json:"details"`
}

type auditPage struct {
	Entries    []auditEntry `json:"entries"`
	NextCursor string       `json:"next_cursor"`
	More       bool         `json:"more"`
}

func (h *inputAPI) auditLog(token, tenant, after string, limit int) (auditPage, inputResponse) {
	h.t.Helper()
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	r := h.request(http.MethodGet, "/tenants/"+tenant+"/audit-log?"+q.Encode(), token, nil)
	var p auditPage
	if r.Status == http.StatusOK {
		require.NoError(h.t, json.Unmarshal(r.Body, &p), "%s", r.Body)
		require.NotEmpty(h.t, p.NextCursor)
	}
	return p, r
}

// wholeAuditLog pages through tn's audit log, limit entries a page, and returns
// the entries and every page's body.
func (h *inputAPI) wholeAuditLog(tn inputTenant, limit int) ([]auditEntry, string) {
	h.t.Helper()
	var (
		all    []auditEntry
		bodies strings.Builder
		after  string
	)
	for range 1000 {
		p, r := h.auditLog(tn.Token, tn.ID, after, limit)
		require.Equal(h.t, http.StatusOK, r.Status, "%s", r.Body)
		require.LessOrEqual(h.t, len(p.Entries), limit)
		bodies.Write(r.Body)
		all = append(all, p.Entries...)
		after = p.NextCursor
		if !p.More {
			return all, bodies.String()
		}
	}
	h.t.Fatal("the audit log never ended")
	return nil, ""
}

const auditMarker = "item-payload-only-the-tenant-may-read"

// TestAuditLogShowsWhoDidWhatAndNoSecret builds a tenant's history through
// the API (users, keys, items, usage, a plan change, a revocation, an
// invoice), reads its whole audit log and checks that each action names its
// actor (user by email, key by name, the platform as system) and that no
// password, password hash, key, key hash or item payload is anywhere in it.
func TestAuditLogShowsWhoDidWhatAndNoSecret(t *testing.T) {
	t.Parallel()
	h := newInputAPI(t)
	acme := h.onboard("acme")
	globex := h.onboard("globex")
	const memberPassword, opsPassword = "Membr-Pass1!", "0ps-Passw0rd!"
	memberID, memberToken := h.addUser(acme, "member@acme.test", memberPassword, "tenant_member")
	opsID, opsToken := h.addUser(acme, "ops@acme.test", opsPassword, "tenant_admin")
	ingestID, ingest := h.createKey(acme, "ingest", "usage:write", "data:write")
	oldID, old := h.createKey(acme, "old laptop", "data:read")

	put := func(token, id string) {
		t.Helper()
		r := h.request(http.MethodPut, "/tenants/"+acme.ID+"/data/"+id, token, []byte(`{"note":"`+auditMarker+`","n":1}`))
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}
	put(acme.Token, "by-admin")
	put(memberToken, "by-member")
	put(ingest, "by-key")
	put(ingest, "by-key") // version 2
	r := h.request(http.MethodDelete, "/tenants/"+acme.ID+"/data/by-member", ingest, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	ts := inputStart.Add(-time.Minute).Format(time.RFC3339)
	usage := `{"events":[{"id":"u1","meter":"compute_seconds","quantity":"3","timestamp":"` + ts + `","properties":{"job":"` + auditMarker + `"}},` +
		`{"id":"u2","meter":"compute_seconds","quantity":"4","timestamp":"` + ts + `"}]}`
	r = h.request(http.MethodPost, "/tenants/"+acme.ID+"/usage", ingest, []byte(usage), "Idempotency-Key", "report-1")
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	r = h.request(http.MethodPut, "/tenants/"+acme.ID+"/plan", opsToken, []byte(`{"plan":"starter"}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = h.request(http.MethodDelete, "/tenants/"+acme.ID+"/api-keys/"+oldID, opsToken, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	// The end of the month: the billing close issues the invoice.
	r = h.request(http.MethodPost, "/test-clock", "", []byte(`{"now":"2026-04-01T02:00:00Z"}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	// Tokens from before the jump have expired.
	acme.Token, globex.Token = h.login(acme), h.login(globex)
	memberToken = h.login(inputTenant{Name: acme.Name, Email: "member@acme.test", Password: memberPassword})
	require.NoError(t, h.sync(context.Background()))
	r = h.request(http.MethodGet, "/billing/"+acme.ID+"/invoices", acme.Token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), `"invoice_id"`, "the close issued acme's invoice")

	entries, body := h.wholeAuditLog(acme, 3)

	t.Run("one entry per event, in the events log's order", func(t *testing.T) {
		var want []string
		for after := ""; ; {
			p, r := h.eventLog(acme, acme.ID, after, 1000)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			for _, raw := range p.Events {
				var e struct {
					ID string `json:"id"`
				}
				require.NoError(t, json.Unmarshal(raw, &e))
				want = append(want, e.ID)
			}
			if after = p.Next; !p.More {
				break
			}
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.ID)
		}
		assert.Equal(t, want, got)
	})

	t.Run("no secret and no payload", func(t *testing.T) {
		secrets := map[string]string{
			"a password":    acme.Password,
			"a password 2":  memberPassword,
			"a password 3":  opsPassword,
			"an API key":    ingest,
			"an API key 2":  old,
			"item data":     auditMarker,
			"argon2id hash": "$argon2id$",
			"a hash field":  "password_hash",
			"a key hash":    "secret_hash",
			"a verifier":    "password_verifier",
			"item data key": `"data"`,
			"usage records": `"records":[`,
			"properties":    "properties",
		}
		// Every hash the store holds for this tenant, as stored.
		all, err := h.Store.ReadTenant(context.Background(), events.TenantID(acme.ID), "", events.ReadOptions{Limit: 1000})
		require.NoError(t, err)
		for _, e := range all.Events {
			var d map[string]any
			require.NoError(t, json.Unmarshal(e.Data, &d))
			for _, f := range []string{"password_hash", "secret_hash"} {
				if v, _ := d[f].(string); v != "" {
					secrets[e.Type+" "+f+" "+e.ID] = v
					if f == "secret_hash" {
						_, err := hex.DecodeString(v)
						require.NoError(t, err)
					}
				}
			}
		}
		require.Greater(t, len(secrets), 15, "the store holds the hashes this test looks for")
		for what, s := range secrets {
			assert.NotContains(t, body, s, "the audit log shows %s", what)
		}
		assert.NotContains(t, body, apikey.Prefix)
	})

	// find returns the entries of action whose target is id.
	find := func(action, id string) []auditEntry {
		var out []auditEntry
		for _, e := range entries {
			if e.Action == action && (id == "" || e.Target.ID == id) {
				out = append(out, e)
			}
		}
		return out
	}
	var adminID string
	require.NotEmpty(t, find("tenant.onboarded", acme.ID))
	adminID = find("tenant.onboarded", acme.ID)[0].Actor.ID
	user := func(id, email string) [3]string { return [3]string{"user", id, email} }
	key := func(id, name string) [3]string { return [3]string{"api_key", id, name} }
	admin := user(adminID, acme.Email)
	tests := []struct {
		name           string
		action, target string
		n              int
		actor          [3]string
		targetType     string
		details        map[string]any // a subset of each entry's details
	}{
		{"onboarding", "tenant.onboarded", acme.ID, 1, admin, "tenant", map[string]any{"tenant_name": "acme", "admin_email": acme.Email, "plan": "free"}},
		{"the first admin", "user.added", adminID, 1, admin, "user", map[string]any{"user_id": adminID, "email": acme.Email, "roles": []any{"tenant_admin"}}},
		{"a member added", "user.added", memberID, 1, admin, "user", map[string]any{"user_id": memberID, "email": "member@acme.test", "roles": []any{"tenant_member"}}},
		{"an admin added", "user.added", opsID, 1, admin, "user", map[string]any{"email": "ops@acme.test", "roles": []any{"tenant_admin"}}},
		{"a key created", "api_key.created", ingestID, 1, admin, "api_keys", map[string]any{"key_id": ingestID, "name": "ingest", "scopes": []any{"usage:write", "data:write"}}},
		{"another key created", "api_key.created", oldID, 1, admin, "api_keys", map[string]any{"name": "old laptop", "scopes": []any{"data:read"}}},
		{"an admin's put", "item.put", "by-admin", 1, admin, "item", map[string]any{"item_id": "by-admin", "version": float64(1)}},
		{"a member's put", "item.put", "by-member", 1, user(memberID, "member@acme.test"), "item", map[string]any{"item_id": "by-member", "version": float64(1)}},
		{"a key's puts", "item.put", "by-key", 2, key(ingestID, "ingest"), "item", nil},
		{"a key's delete", "item.deleted", "by-member", 1, key(ingestID, "ingest"), "item", map[string]any{"item_id": "by-member", "version": float64(2)}},
		{"a key's usage", "usage.reported", "", 1, key(ingestID, "ingest"), "usage", map[string]any{"records": float64(2), "meters": []any{"compute_seconds"}}},
		{"a key's report claim", "usage.report_claimed", "", 1, key(ingestID, "ingest"), "usage-answers", nil},
		{"a key's report answer", "usage.report_answered", "", 1, key(ingestID, "ingest"), "usage-answers", map[string]any{"accepted": float64(2), "duplicates": float64(0)}},
		{"a plan change", "tenant.plan_changed", acme.ID, 1, user(opsID, "ops@acme.test"), "tenant", map[string]any{"from": "free", "to": "starter"}},
		{"a revocation", "api_key.revoked", oldID, 1, user(opsID, "ops@acme.test"), "api_keys", map[string]any{"key_id": oldID}},
		{"the billing close", "invoice.issued", "", 1, [3]string{"system", "billing", "billing"}, "invoice", map[string]any{"period": "2026-03", "number": float64(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := find(tt.action, tt.target)
			require.Len(t, got, tt.n, "entries of %s on %s", tt.action, tt.target)
			for _, e := range got {
				assert.Equal(t, tt.actor, [3]string{e.Actor.Type, e.Actor.ID, e.Actor.Name}, "actor")
				assert.Equal(t, tt.targetType, e.Target.Type)
				assert.NotEmpty(t, e.Target.ID)
				assert.False(t, e.At.IsZero())
				assert.NotNil(t, e.Details, "details is always an object")
				for k, v := range tt.details {
					assert.Equal(t, v, e.Details[k], "details.%s", k)
				}
			}
		})
	}
	inv := find("invoice.issued", "")
	require.Len(t, inv, 1)
	assert.Equal(t, inv[0].Details["invoice_id"], inv[0].Target.ID, "an invoice's target is the invoice")
	for _, e := range find("item.put", "by-key") {
		assert.ElementsMatch(t, []string{"item_id", "version"}, keys(e.Details), "an item's details are its id and version only")
	}
	// Each key acted under its own name, and nothing else did under a key's.
	for _, e := range entries {
		if e.Actor.Type == "api_key" {
			assert.Equal(t, ingestID, e.Actor.ID, "%s", e.Action)
		}
	}

	t.Run("only the tenant's admins", func(t *testing.T) {
		for _, tc := range []struct {
			name, token, tenant string
			status              int
		}{
			{"a member", memberToken, acme.ID, http.StatusForbidden},
			{"an API key", ingest, acme.ID, http.StatusForbidden},
			{"another tenant's admin", globex.Token, acme.ID, http.StatusForbidden},
			{"no token", "", acme.ID, http.StatusUnauthorized},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, r := h.auditLog(tc.token, tc.tenant, "", 10)
				assert.Equal(t, tc.status, r.Status, "%s", r.Body)
				assert.Empty(t, problemError(r), "%s", r.Body)
				assert.NotContains(t, string(r.Body), auditMarker)
				assert.NotContains(t, string(r.Body), "member@acme.test")
			})
		}
	})

	t.Run("cursors are the events log's: opaque, tenant-bound, tamper-proof", func(t *testing.T) {
		first, r := h.auditLog(acme.Token, acme.ID, "", 2)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.True(t, first.More)
		next, r := h.auditLog(acme.Token, acme.ID, first.NextCursor, 2)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.Equal(t, entries[2].ID, next.Entries[0].ID, "the cursor resumes after the page")
		gp, r := h.auditLog(globex.Token, globex.ID, "", 1)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		c := first.NextCursor
		for name, bad := range map[string]string{
			"another tenant's":   gp.NextCursor,
			"truncated":          c[:len(c)-2],
			"edited":             c[:10] + string(rune(c[10]^1)) + c[11:],
			"a raw store cursor": "mem:3",
			"garbage":            "garbage",
		} {
			_, r := h.auditLog(acme.Token, acme.ID, bad, 2)
			requireBadAfter(t, r, name)
		}
		// The tail keeps a cursor to poll with.
		last, r := h.auditLog(acme.Token, acme.ID, "", 1000)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.False(t, last.More)
		tail, r := h.auditLog(acme.Token, acme.ID, last.NextCursor, 1000)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.Empty(t, tail.Entries)
		assert.Equal(t, "[]", strings.TrimSpace(string(jsonField(t, r.Body, "entries"))), "an empty page is [], not null")
	})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func jsonField(t *testing.T, body []byte, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	return m[name]
}

// login logs tn in again (the test clock moved past its token) and returns the access token.
func (h *inputAPI) login(tn inputTenant) string {
	h.t.Helper()
	r := h.request(http.MethodPost, "/auth/login", "", []byte(jsonOf(map[string]string{"tenant_name": tn.Name, "email": tn.Email, "password": tn.Password})))
	require.Equal(h.t, http.StatusOK, r.Status, "%s", r.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(h.t, json.Unmarshal(r.Body, &tok))
	return tok.AccessToken
}
