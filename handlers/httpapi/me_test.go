package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// createKey makes an API key of tn through the API and returns its id and secret.
func (h *inputAPI) createKey(tn inputTenant, name string, scopes ...string) (id, key string) {
	h.t.Helper()
	r := h.request(http.MethodPost, "/tenants/"+tn.ID+"/api-keys", tn.Token, []byte(jsonOf(map[string]any{"name": name, "scopes": scopes})))
	require.Equal(h.t, http.StatusCreated, r.Status, "%s", r.Body)
	var k struct {
		KeyID string `json:"key_id"`
		Key   string `json:"key"`
	}
	require.NoError(h.t, json.Unmarshal(r.Body, &k))
	require.NotEmpty(h.t, k.Key)
	return k.KeyID, k.Key
}

// addUser adds a user to tn through the API, logs it in and returns its id and token.
func (h *inputAPI) addUser(tn inputTenant, email, password, role string) (id, token string) {
	h.t.Helper()
	r := h.request(http.MethodPost, "/tenants/"+tn.ID+"/users", tn.Token, []byte(jsonOf(map[string]string{"email": email, "password": password, "role": role})))
	require.Equal(h.t, http.StatusCreated, r.Status, "%s", r.Body)
	var u struct {
		UserID string `json:"user_id"`
	}
	require.NoError(h.t, json.Unmarshal(r.Body, &u))
	r = h.request(http.MethodPost, "/auth/login", "", []byte(jsonOf(map[string]string{"tenant_name": tn.Name, "email": email, "password": password})))
	require.Equal(h.t, http.StatusOK, r.Status, "%s", r.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(h.t, json.Unmarshal(r.Body, &tok))
	return u.UserID, tok.AccessToken
}

// TestMe: GET /me names the caller, user or key, with its tenant, roles and
// scopes; every key may ask, whatever its scopes; without credentials it is a 401.
func TestMe(t *testing.T) {
	t.Parallel()
	h := newInputAPI(t)
	acme := h.onboard("acme")
	memberID, memberToken := h.addUser(acme, "member@acme.test", "Membr-Pass1!", "tenant_member")
	usageKeyID, usageKey := h.createKey(acme, "ingest", "usage:write")
	readKeyID, readKey := h.createKey(acme, "reader", "data:read", "billing:read")
	var adminID string
	{
		r := h.request(http.MethodGet, "/tenants/"+acme.ID, acme.Token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var prof struct {
			AdminID string `json:"admin_user_id"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &prof))
		adminID = prof.AdminID
	}
	allScopes := []any{"usage:write", "data:read", "data:write", "billing:read"}
	tests := []struct {
		name  string
		token string
		want  map[string]any
	}{
		{"the admin's token", acme.Token, map[string]any{"tenant_id": acme.ID,
			"principal": map[string]any{"type": "user", "user_id": adminID, "email": acme.Email},
			"roles":     []any{"tenant_admin"}, "scopes": allScopes}},
		{"a member's token", memberToken, map[string]any{"tenant_id": acme.ID,
			"principal": map[string]any{"type": "user", "user_id": memberID, "email": "member@acme.test"},
			"roles":     []any{"tenant_member"}, "scopes": allScopes}},
		{"a usage key", usageKey, map[string]any{"tenant_id": acme.ID,
			"principal": map[string]any{"type": "api_key", "key_id": usageKeyID, "name": "ingest"},
			"roles":     []any{}, "scopes": []any{"usage:write"}}},
		{"a read key", readKey, map[string]any{"tenant_id": acme.ID,
			"principal": map[string]any{"type": "api_key", "key_id": readKeyID, "name": "reader"},
			"roles":     []any{}, "scopes": []any{"data:read", "billing:read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos, n := h.head()
			r := h.request(http.MethodGet, "/me", tt.token, nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			var got map[string]any
			require.NoError(t, json.Unmarshal(r.Body, &got))
			assert.Equal(t, tt.want, got)
			afterPos, afterN := h.head()
			assert.Equal(t, pos, afterPos, "GET /me writes nothing")
			assert.Equal(t, n, afterN, "GET /me writes nothing")
		})
	}

	refusals := []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a revoked key", func() string {
			id, key := h.createKey(acme, "gone", "data:read")
			r := h.request(http.MethodDelete, "/tenants/"+acme.ID+"/api-keys/"+id, acme.Token, nil)
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
			return key
		}(), http.StatusUnauthorized},
		{"garbage", "not-a-token", http.StatusUnauthorized},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := h.request(http.MethodGet, "/me", tt.token, nil)
			assert.Equal(t, tt.status, r.Status, "%s", r.Body)
			assert.Empty(t, problemError(r), "%s", r.Body)
		})
	}
}
