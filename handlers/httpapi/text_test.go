package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBodiesMustBeText sends, on every route that takes a JSON body, an otherwise
// valid body made invalid only by text that is not Unicode: a raw 0xff byte in a
// string value, one in a key, a UTF-8-encoded surrogate, an escaped unpaired
// surrogate. encoding/json would read each as U+FFFD (and an item's raw data kept
// the bytes as they came), so each must be a 400 invalid that says why, and write
// nothing (docs/api.md, "Requests and pages").
func TestBodiesMustBeText(t *testing.T) {
	t.Parallel()
	h := newInputAPI(t)
	acme := h.onboard("acme")
	ts := inputStart.Add(-time.Minute).Format(time.RFC3339)

	// Each body holds the marker ~V~ in a string value that the route would
	// otherwise accept with any text in it, and ~K~ in a key position.
	routes := []struct {
		name, method, path, body string
	}{
		{"onboarding", "POST", "/onboarding", `{"tenant_name":"beta","email":"admin@beta.test","password":"Sup3r-secret!~V~"~K~}`},
		{"login", "POST", "/auth/login", `{"tenant_name":"acme","email":"` + acme.Email + `","password":"` + acme.Password + `~V~"~K~}`},
		{"refresh", "POST", "/auth/refresh", `{"refresh_token":"` + acme.RefreshToken + `~V~"~K~}`},
		{"plan", "PUT", "/tenants/{t}/plan", `{"plan":"pro~V~"~K~}`},
		{"users", "POST", "/tenants/{t}/users", `{"email":"member@acme.test","password":"Memb3r-secret!~V~"~K~}`},
		{"item", "PUT", "/tenants/{t}/data/doc", `{"title":"x~V~"~K~}`},
		{"usage", "POST", "/tenants/{t}/usage", `{"events":[{"id":"u1","meter":"compute_seconds","quantity":"1","timestamp":"` + ts + `","properties":{"region":"eu~V~"~K~}}]}`},
	}
	// The same bodies without the bad text go through, so the refusals below are
	// the text's alone. (On a harness of their own: they write.)
	ok := newInputAPI(t)
	okAcme := ok.onboard("acme")
	for _, rt := range routes {
		body := strings.NewReplacer("~V~", "", "~K~", "").Replace(rt.body)
		body = strings.NewReplacer(acme.Email, okAcme.Email, acme.RefreshToken, okAcme.RefreshToken).Replace(body)
		r := ok.request(rt.method, strings.ReplaceAll(rt.path, "{t}", okAcme.ID), okAcme.Token, []byte(body))
		require.Less(t, r.Status, 300, "%s with valid text: %s", rt.name, r.Body)
	}

	variants := []struct {
		name, value, key, detail string
	}{
		{"0xff in a value", "\xff", "", "not valid UTF-8"},
		{"0xff in a key", "", ",\"k\xff\":\"v\"", "not valid UTF-8"},
		{"encoded surrogate in a value", "\xed\xa0\x80", "", "not valid UTF-8"},
		{"truncated sequence in a key", "", ",\"k\xc3\":\"v\"", "not valid UTF-8"},
		{"escaped lone surrogate in a value", `\ud800`, "", "unpaired UTF-16 surrogate"},
		{"escaped lone surrogate in a key", "", `,"k\udc00":"v"`, "unpaired UTF-16 surrogate"},
	}
	for _, rt := range routes {
		for _, v := range variants {
			t.Run(rt.name+"/"+v.name, func(t *testing.T) {
				body := strings.NewReplacer("~V~", v.value, "~K~", v.key).Replace(rt.body)
				pos, n := h.head()
				r := h.request(rt.method, strings.ReplaceAll(rt.path, "{t}", acme.ID), acme.Token, []byte(body))
				assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
				assert.Empty(t, problemError(r), "%s", r.Body)
				var p struct {
					Code   string `json:"code"`
					Detail string `json:"detail"`
				}
				require.NoError(t, json.Unmarshal(r.Body, &p))
				assert.Equal(t, "invalid", p.Code)
				assert.Contains(t, p.Detail, v.detail)
				afterPos, afterN := h.head()
				assert.Equal(t, pos, afterPos, "the request wrote to the store")
				assert.Equal(t, n, afterN, "the request wrote to the store")
			})
		}
	}

	// Nothing got in by another way: no item, no user, the plan as it was.
	require.NoError(t, h.sync(t.Context()))
	r := h.request(http.MethodGet, "/tenants/"+acme.ID+"/data/doc", acme.Token, nil)
	assert.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
	r = h.request(http.MethodGet, "/tenants/"+acme.ID, acme.Token, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), `"plan":"free"`)
}
