package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usageBody builds a usage request of n records from one template.
func usageBody(n int, rec map[string]any) string {
	evs := make([]map[string]any, n)
	for i := range evs {
		e := map[string]any{"id": fmt.Sprintf("u-%d", i), "meter": "compute_seconds", "quantity": "1", "timestamp": inputStart.Add(-time.Minute).Format(time.RFC3339)}
		for k, v := range rec {
			if v == nil {
				delete(e, k)
				continue
			}
			e[k] = v
		}
		evs[i] = e
	}
	b, _ := json.Marshal(map[string]any{"events": evs})
	return string(b)
}

// usageOf is a one-record usage request with the given fields replaced (nil removes one).
func usageOf(rec map[string]any) string { return usageBody(1, rec) }

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// badInputCase is one invalid request. {t} in path is the tenant's id. A nil
// body sends none.
type badInputCase struct {
	name    string
	method  string
	path    string
	body    *string
	headers []string
	status  int
	detail  string // a substring the problem's detail must contain
	chunked bool   // send without Content-Length
}

func body(s string) *string { return &s }

// TestBadInput sends malformed, mistyped, oversize and invalid requests through
// the real handler: each gets a 4xx problem+json and writes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newInputAPI(t)
	acme := h.onboard("acme")
	r := h.request(http.MethodPut, "/tenants/"+acme.ID+"/data/doc", acme.Token, []byte(`{"v":1}`))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

	const (
		onboarding = "/onboarding"
		login      = "/auth/login"
		refresh    = "/auth/refresh"
		plan       = "/tenants/{t}/plan"
		users      = "/tenants/{t}/users"
		item       = "/tenants/{t}/data/doc"
		usage      = "/tenants/{t}/usage"
	)
	okOnboard := map[string]any{"tenant_name": "beta", "email": "admin@beta.test", "password": inputPassword}
	onboard := func(field string, v any) string {
		m := map[string]any{}
		for k, x := range okOnboard {
			m[k] = x
		}
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
		return jsonOf(m)
	}
	now := inputStart
	bigItem := `{"a":"` + strings.Repeat("x", 64<<10) + `"}`
	bigUsage := `{"events":[{"id":"x","meter":"compute_seconds","quantity":"1","timestamp":"` + now.Format(time.RFC3339) + `","properties":{"p":"` + strings.Repeat("x", 1<<20) + `"}}]}`
	props := map[string]string{}
	for i := range 17 {
		props[fmt.Sprint("k", i)] = "v"
	}

	cases := []badInputCase{
		// Decoding, for every body type.
		{name: "onboarding malformed JSON", method: "POST", path: onboarding, body: body(`{"tenant_name":`), status: 400},
		{name: "onboarding not JSON", method: "POST", path: onboarding, body: body(`tenant_name=beta`), status: 400},
		{name: "onboarding empty body", method: "POST", path: onboarding, body: body(``), status: 400},
		{name: "onboarding no body", method: "POST", path: onboarding, status: 400},
		{name: "onboarding array", method: "POST", path: onboarding, body: body(`[]`), status: 400},
		{name: "onboarding null", method: "POST", path: onboarding, body: body(`null`), status: 400},
		{name: "onboarding wrong type", method: "POST", path: onboarding, body: body(onboard("tenant_name", 42)), status: 400, detail: "tenant_name"},
		{name: "onboarding unknown field", method: "POST", path: onboarding, body: body(onboard("tenant_id", "x")), status: 400, detail: "tenant_id"},
		{name: "onboarding trailing object", method: "POST", path: onboarding, body: body(onboard("plan", "free") + `{}`), status: 400},
		{name: "onboarding trailing garbage", method: "POST", path: onboarding, body: body(onboard("plan", "free") + ` x`), status: 400},
		{name: "onboarding text/plain", method: "POST", path: onboarding, body: body(onboard("plan", "free")), headers: []string{"Content-Type", "text/plain"}, status: 400},
		{name: "onboarding no Content-Type", method: "POST", path: onboarding, body: body(onboard("plan", "free")), headers: []string{"Content-Type", ""}, status: 400},
		{name: "onboarding latin1", method: "POST", path: onboarding, body: body(onboard("plan", "free")), headers: []string{"Content-Type", "application/json; charset=latin1"}, status: 400},
		{name: "onboarding malformed Content-Type", method: "POST", path: onboarding, body: body(onboard("plan", "free")), headers: []string{"Content-Type", "application/"}, status: 400},
		{name: "onboarding oversize", method: "POST", path: onboarding, body: body(onboard("tenant_name", strings.Repeat("a", 20<<10))), status: 413},
		{name: "onboarding oversize chunked", method: "POST", path: onboarding, body: body(onboard("tenant_name", strings.Repeat("a", 20<<10))), chunked: true, status: 413},
		{name: "onboarding invalid UTF-8", method: "POST", path: onboarding, body: body(onboard("tenant_name", "x") + "\xff"), status: 400},
		// Onboarding values.
		{name: "tenant name too short", method: "POST", path: onboarding, body: body(onboard("tenant_name", "ab")), status: 400},
		{name: "tenant name too long", method: "POST", path: onboarding, body: body(onboard("tenant_name", strings.Repeat("a", 64))), status: 400},
		{name: "tenant name with a space", method: "POST", path: onboarding, body: body(onboard("tenant_name", "be ta")), status: 400},
		{name: "tenant name with a symbol", method: "POST", path: onboarding, body: body(onboard("tenant_name", "beta!")), status: 400},
		{name: "tenant name not ASCII", method: "POST", path: onboarding, body: body(onboard("tenant_name", "bêta")), status: 400},
		{name: "tenant name missing", method: "POST", path: onboarding, body: body(onboard("tenant_name", nil)), status: 400},
		{name: "tenant name taken, other case", method: "POST", path: onboarding, body: body(onboard("tenant_name", "ACME")), status: 409},
		{name: "email invalid", method: "POST", path: onboarding, body: body(onboard("email", "not-an-email")), status: 400},
		{name: "email without domain", method: "POST", path: onboarding, body: body(onboard("email", "a@")), status: 400},
		{name: "email with a space", method: "POST", path: onboarding, body: body(onboard("email", "a b@beta.test")), status: 400},
		{name: "email missing", method: "POST", path: onboarding, body: body(onboard("email", nil)), status: 400},
		{name: "password too short", method: "POST", path: onboarding, body: body(onboard("password", "Sh0rt!")), status: 400},
		{name: "password without upper case", method: "POST", path: onboarding, body: body(onboard("password", "sup3r-secret!")), status: 400},
		{name: "password without lower case", method: "POST", path: onboarding, body: body(onboard("password", "SUP3R-SECRET!")), status: 400},
		{name: "password without digit", method: "POST", path: onboarding, body: body(onboard("password", "Super-secret!")), status: 400},
		{name: "password without symbol", method: "POST", path: onboarding, body: body(onboard("password", "Sup3rsecret")), status: 400},
		{name: "password missing", method: "POST", path: onboarding, body: body(onboard("password", nil)), status: 400},
		{name: "onboarding unknown plan", method: "POST", path: onboarding, body: body(onboard("plan", "enterprise")), status: 400},
		{name: "Idempotency-Key too long", method: "POST", path: onboarding, body: body(onboard("plan", "free")), headers: []string{"Idempotency-Key", strings.Repeat("k", 201)}, status: 400},
		// Login and refresh.
		{name: "login no fields", method: "POST", path: login, body: body(`{}`), status: 400},
		{name: "login without password", method: "POST", path: login, body: body(jsonOf(map[string]string{"tenant_name": "acme", "email": acme.Email})), status: 400},
		{name: "login without email", method: "POST", path: login, body: body(jsonOf(map[string]string{"tenant_name": "acme", "password": inputPassword})), status: 400},
		{name: "login without tenant", method: "POST", path: login, body: body(jsonOf(map[string]string{"email": acme.Email, "password": inputPassword})), status: 400},
		{name: "login wrong type", method: "POST", path: login, body: body(`{"tenant_name":"acme","email":"a@b.c","password":123}`), status: 400},
		{name: "login unknown field", method: "POST", path: login, body: body(`{"tenant_name":"acme","email":"a@b.c","password":"x","tenant_id":"x"}`), status: 400},
		{name: "login malformed", method: "POST", path: login, body: body(`{"tenant_name"`), status: 400},
		{name: "refresh no token", method: "POST", path: refresh, body: body(`{}`), status: 400},
		{name: "refresh wrong type", method: "POST", path: refresh, body: body(`{"refresh_token":5}`), status: 400},
		{name: "refresh garbage token", method: "POST", path: refresh, body: body(`{"refresh_token":"a.b.c"}`), status: 401},
		{name: "refresh with an access token", method: "POST", path: refresh, body: body(jsonOf(map[string]string{"refresh_token": acme.Token})), status: 401},
		{name: "refresh unknown field", method: "POST", path: refresh, body: body(`{"refresh_token":"x","y":1}`), status: 400},
		// Plan.
		{name: "plan unknown", method: "PUT", path: plan, body: body(`{"plan":"enterprise"}`), status: 400, detail: "enterprise"},
		{name: "plan wrong case", method: "PUT", path: plan, body: body(`{"plan":"PRO"}`), status: 400},
		{name: "plan empty", method: "PUT", path: plan, body: body(`{"plan":""}`), status: 400},
		{name: "plan missing", method: "PUT", path: plan, body: body(`{}`), status: 400},
		{name: "plan wrong type", method: "PUT", path: plan, body: body(`{"plan":["pro"]}`), status: 400},
		{name: "plan unknown field", method: "PUT", path: plan, body: body(`{"plan":"pro","tenant_id":"other"}`), status: 400},
		{name: "plan trailing data", method: "PUT", path: plan, body: body(`{"plan":"pro"} {"plan":"free"}`), status: 400},
		// Users.
		{name: "user bad email", method: "POST", path: users, body: body(`{"email":"nope","password":"Sup3r-secret!"}`), status: 400},
		{name: "user weak password", method: "POST", path: users, body: body(`{"email":"m@acme.test","password":"password"}`), status: 400},
		{name: "user bad role", method: "POST", path: users, body: body(`{"email":"m@acme.test","password":"Sup3r-secret!","role":"platform_admin"}`), status: 400},
		{name: "user existing email", method: "POST", path: users, body: body(jsonOf(map[string]string{"email": acme.Email, "password": inputPassword})), status: 409},
		{name: "user unknown field", method: "POST", path: users, body: body(`{"email":"m@acme.test","password":"Sup3r-secret!","tenant_id":"x"}`), status: 400},
		{name: "user wrong type", method: "POST", path: users, body: body(`{"email":"m@acme.test","password":"Sup3r-secret!","role":1}`), status: 400},
		{name: "patch user no roles", method: "PATCH", path: users + "/nobody", body: body(`{}`), status: 400, detail: "roles"},
		{name: "patch user empty roles", method: "PATCH", path: users + "/nobody", body: body(`{"roles":[]}`), status: 400, detail: "roles"},
		{name: "patch user unknown role", method: "PATCH", path: users + "/nobody", body: body(`{"roles":["root"]}`), status: 400, detail: "root"},
		{name: "patch user platform role", method: "PATCH", path: users + "/nobody", body: body(`{"roles":["platform_admin"]}`), status: 400},
		{name: "patch user roles not a list", method: "PATCH", path: users + "/nobody", body: body(`{"roles":"tenant_admin"}`), status: 400},
		{name: "patch user unknown field", method: "PATCH", path: users + "/nobody", body: body(`{"roles":["tenant_admin"],"tenant_id":"x"}`), status: 400},
		{name: "patch user malformed", method: "PATCH", path: users + "/nobody", body: body(`{"roles":[`), status: 400},
		{name: "patch unknown user", method: "PATCH", path: users + "/nobody", body: body(`{"roles":["tenant_member"]}`), status: 404},
		{name: "patch the last admin", method: "PATCH", path: users + "/" + acme.UserID, body: body(`{"roles":["tenant_member"]}`), status: 409},
		{name: "remove unknown user", method: "DELETE", path: users + "/nobody", status: 404},
		{name: "remove the last admin", method: "DELETE", path: users + "/" + acme.UserID, status: 409},
		{name: "users limit zero", method: "GET", path: users + "?limit=0", status: 400, detail: "limit"},
		{name: "users limit too big", method: "GET", path: users + "?limit=1001", status: 400},
		{name: "users cursor garbage", method: "GET", path: users + "?after=garbage", status: 400, detail: "after"},
		{name: "users unknown parameter", method: "GET", path: users + "?page=2", status: 400, detail: "page"},
		// Invitations and resets.
		{name: "invitation no email", method: "POST", path: "/tenants/{t}/invitations", body: body(`{}`), status: 400, detail: "email"},
		{name: "invitation bad email", method: "POST", path: "/tenants/{t}/invitations", body: body(`{"email":"nope"}`), status: 400},
		{name: "invitation unknown role", method: "POST", path: "/tenants/{t}/invitations", body: body(`{"email":"x@acme.test","roles":["root"]}`), status: 400, detail: "root"},
		{name: "invitation empty roles", method: "POST", path: "/tenants/{t}/invitations", body: body(`{"email":"x@acme.test","roles":[]}`), status: 400},
		{name: "invitation of a member", method: "POST", path: "/tenants/{t}/invitations", body: body(jsonOf(map[string]string{"email": acme.Email})), status: 409},
		{name: "invitation unknown field", method: "POST", path: "/tenants/{t}/invitations", body: body(`{"email":"x@acme.test","tenant_id":"x"}`), status: 400},
		{name: "invitations cursor garbage", method: "GET", path: "/tenants/{t}/invitations?after=garbage", status: 400, detail: "after"},
		{name: "invitations limit zero", method: "GET", path: "/tenants/{t}/invitations?limit=0", status: 400},
		{name: "revoke unknown invitation", method: "DELETE", path: "/tenants/{t}/invitations/nope", status: 404},
		{name: "accept no token", method: "POST", path: "/invitations/accept", body: body(`{"password":"Val1d-password-here"}`), status: 400, detail: "token"},
		{name: "accept garbage token", method: "POST", path: "/invitations/accept", body: body(`{"token":"tsi_x.y.z","password":"Val1d-password-here"}`), status: 400, detail: "token"},
		{name: "accept weak password", method: "POST", path: "/invitations/accept", body: body(`{"token":"tsi_x.y.z","password":"weak"}`), status: 400},
		{name: "accept unknown field", method: "POST", path: "/invitations/accept", body: body(`{"token":"t","password":"p","email":"x"}`), status: 400},
		{name: "accept wrong type", method: "POST", path: "/invitations/accept", body: body(`{"token":1,"password":2}`), status: 400},
		{name: "reset no tenant", method: "POST", path: "/auth/password-reset", body: body(`{"email":"a@b.test"}`), status: 400, detail: "tenant_name"},
		{name: "reset unknown field", method: "POST", path: "/auth/password-reset", body: body(`{"tenant_name":"acme","email":"a@b.test","x":1}`), status: 400},
		{name: "reset wrong type", method: "POST", path: "/auth/password-reset", body: body(`{"tenant_name":1,"email":2}`), status: 400},
		{name: "confirm no token", method: "POST", path: "/auth/password-reset/confirm", body: body(`{"new_password":"Val1d-password-here"}`), status: 400, detail: "token"},
		{name: "confirm garbage token", method: "POST", path: "/auth/password-reset/confirm", body: body(`{"token":"tsp_a.b.c","new_password":"Val1d-password-here"}`), status: 400, detail: "token"},
		{name: "confirm no password", method: "POST", path: "/auth/password-reset/confirm", body: body(`{"token":"tsp_a.b.c"}`), status: 400},
		{name: "confirm unknown field", method: "POST", path: "/auth/password-reset/confirm", body: body(`{"token":"t","new_password":"p","user_id":"x"}`), status: 400},
		// Sessions and passwords.
		{name: "logout no token", method: "POST", path: "/auth/logout", body: body(`{}`), status: 400, detail: "refresh_token"},
		{name: "logout wrong type", method: "POST", path: "/auth/logout", body: body(`{"refresh_token":1}`), status: 400},
		{name: "logout unknown field", method: "POST", path: "/auth/logout", body: body(`{"refresh_token":"x","all":true}`), status: 400},
		{name: "logout oversize token", method: "POST", path: "/auth/logout", body: body(jsonOf(map[string]string{"refresh_token": strings.Repeat("t", 9000)})), status: 400},
		{name: "password no fields", method: "POST", path: "/auth/password", body: body(`{}`), status: 400},
		{name: "password no new one", method: "POST", path: "/auth/password", body: body(jsonOf(map[string]string{"current_password": inputPassword})), status: 400, detail: "new_password"},
		{name: "password weak new one", method: "POST", path: "/auth/password", body: body(jsonOf(map[string]string{"current_password": inputPassword, "new_password": "weak"})), status: 400, detail: "new_password"},
		{name: "password wrong current one", method: "POST", path: "/auth/password", body: body(jsonOf(map[string]string{"current_password": "Wr0ng-password!", "new_password": "N3w-secret-pass"})), status: 400, detail: "current_password"},
		{name: "password current too long", method: "POST", path: "/auth/password", body: body(jsonOf(map[string]string{"current_password": strings.Repeat("p", 1100), "new_password": "N3w-secret-pass"})), status: 400},
		{name: "password unknown field", method: "POST", path: "/auth/password", body: body(`{"current_password":"a","new_password":"b","user_id":"x"}`), status: 400},
		{name: "password wrong type", method: "POST", path: "/auth/password", body: body(`{"current_password":1,"new_password":2}`), status: 400},
		// Items.
		{name: "item array", method: "PUT", path: item, body: body(`[1,2]`), status: 400},
		{name: "item string", method: "PUT", path: item, body: body(`"text"`), status: 400},
		{name: "item number", method: "PUT", path: item, body: body(`42`), status: 400},
		{name: "item null", method: "PUT", path: item, body: body(`null`), status: 400},
		{name: "item boolean", method: "PUT", path: item, body: body(`true`), status: 400},
		{name: "item malformed", method: "PUT", path: item, body: body(`{"a":`), status: 400},
		{name: "item trailing data", method: "PUT", path: item, body: body(`{"a":1}{"b":2}`), status: 400},
		{name: "item empty", method: "PUT", path: item, body: body(``), status: 400},
		{name: "item text/plain", method: "PUT", path: item, body: body(`{"a":1}`), headers: []string{"Content-Type", "text/plain"}, status: 400},
		{name: "item over 64 KiB", method: "PUT", path: item, body: body(bigItem), status: 413},
		{name: "item over 64 KiB chunked", method: "PUT", path: item, body: body(bigItem), chunked: true, status: 413},
		{name: "item id too long", method: "PUT", path: "/tenants/{t}/data/" + strings.Repeat("a", 257), body: body(`{}`), status: 400},
		{name: "item id with a space", method: "PUT", path: "/tenants/{t}/data/a%20b", body: body(`{}`), status: 400},
		{name: "item id with an encoded slash", method: "PUT", path: "/tenants/{t}/data/a%2Fb", body: body(`{}`), status: 400},
		{name: "item id with an encoded NUL", method: "PUT", path: "/tenants/{t}/data/a%00b", body: body(`{}`), status: 400},
		{name: "item id not ASCII", method: "PUT", path: "/tenants/{t}/data/%C3%A9", body: body(`{}`), status: 400},
		{name: "item id with a star", method: "PUT", path: "/tenants/{t}/data/a*b", body: body(`{}`), status: 400},
		{name: "get item id too long", method: "GET", path: "/tenants/{t}/data/" + strings.Repeat("a", 257), status: 400},
		{name: "get item id with an encoded slash", method: "GET", path: "/tenants/{t}/data/a%2Fb", status: 400},
		{name: "delete item id with a space", method: "DELETE", path: "/tenants/{t}/data/a%20b", status: 400},
		{name: "Idempotency-Key not ASCII", method: "PUT", path: item, body: body(`{}`), headers: []string{"Idempotency-Key", "k\xff\xfe"}, status: 400},
		{name: "If-Match unquoted", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", "1"}, status: 400},
		{name: "If-Match unterminated", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `"1`}, status: 400},
		{name: "If-Match list without a comma", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `"1" "2"`}, status: 400},
		{name: "If-Match star and a tag", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `*, "1"`}, status: 400},
		{name: "If-Match control character", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", "\"1\x01\""}, status: 400},
		// RFC 9110: a well-formed tag that does not match is 412, not 400, and
		// If-Match compares strongly.
		{name: "If-Match not a number", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `"abc"`}, status: 412},
		{name: "If-Match negative", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `"-1"`}, status: 412},
		{name: "If-Match list of other versions", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `"2", "3"`}, status: 412},
		{name: "If-Match huge", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `"99999999999999999999"`}, status: 412},
		{name: "If-Match weak tag of the current version", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `W/"1"`}, status: 412},
		{name: "If-Match stale", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-Match", `"2"`}, status: 412},
		{name: "If-Match on a missing item", method: "PUT", path: "/tenants/{t}/data/nothing", body: body(`{}`), headers: []string{"If-Match", `"1"`}, status: 412},
		{name: "If-None-Match * on an existing item", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-None-Match", "*"}, status: 412},
		{name: "If-None-Match with the current ETag on a write", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-None-Match", `"1"`}, status: 412},
		{name: "If-None-Match with the current weak ETag on a write", method: "PUT", path: item, body: body(`{}`), headers: []string{"If-None-Match", `W/"1"`}, status: 412},
		{name: "If-Match * on a missing item", method: "PUT", path: "/tenants/{t}/data/nothing", body: body(`{}`), headers: []string{"If-Match", "*"}, status: 412},
		{name: "delete If-Match garbage", method: "DELETE", path: item, headers: []string{"If-Match", `W/x`}, status: 400},
		{name: "delete If-Match weak", method: "DELETE", path: item, headers: []string{"If-Match", `W/"1"`}, status: 412},
		{name: "delete If-Match stale", method: "DELETE", path: item, headers: []string{"If-Match", `"5"`}, status: 412},
		{name: "delete a missing item", method: "DELETE", path: "/tenants/{t}/data/nothing", status: 404},
		// Query parameters.
		{name: "list limit zero", method: "GET", path: "/tenants/{t}/data?limit=0", status: 400, detail: "limit"},
		{name: "list limit negative", method: "GET", path: "/tenants/{t}/data?limit=-1", status: 400},
		{name: "list limit not a number", method: "GET", path: "/tenants/{t}/data?limit=ten", status: 400},
		{name: "list limit exponent", method: "GET", path: "/tenants/{t}/data?limit=1e3", status: 400},
		{name: "list limit too big", method: "GET", path: "/tenants/{t}/data?limit=1001", status: 400},
		{name: "list limit overflow", method: "GET", path: "/tenants/{t}/data?limit=99999999999999999999", status: 400},
		{name: "list cursor with a space", method: "GET", path: "/tenants/{t}/data?cursor=a%20b", status: 400, detail: "cursor"},
		{name: "list cursor too long", method: "GET", path: "/tenants/{t}/data?cursor=" + strings.Repeat("c", 300), status: 400},
		{name: "list cursor with a slash", method: "GET", path: "/tenants/{t}/data?cursor=a/b", status: 400},
		{name: "events cursor garbage", method: "GET", path: "/tenants/{t}/events?after=garbage", status: 400},
		{name: "events limit zero", method: "GET", path: "/tenants/{t}/events?limit=0", status: 400},
		{name: "events limit too big", method: "GET", path: "/tenants/{t}/events?limit=5000", status: 400},
		{name: "audit log cursor garbage", method: "GET", path: "/tenants/{t}/audit-log?after=garbage", status: 400, detail: "after"},
		{name: "audit log raw store cursor", method: "GET", path: "/tenants/{t}/audit-log?after=mem:1", status: 400, detail: "after"},
		{name: "audit log cursor not base64", method: "GET", path: "/tenants/{t}/audit-log?after=%00%ff", status: 400, detail: "after"},
		{name: "audit log cursor huge", method: "GET", path: "/tenants/{t}/audit-log?after=" + strings.Repeat("A", 4096), status: 400, detail: "after"},
		{name: "audit log limit zero", method: "GET", path: "/tenants/{t}/audit-log?limit=0", status: 400, detail: "limit"},
		{name: "audit log limit negative", method: "GET", path: "/tenants/{t}/audit-log?limit=-1", status: 400, detail: "limit"},
		{name: "audit log limit not a number", method: "GET", path: "/tenants/{t}/audit-log?limit=ten", status: 400, detail: "limit"},
		{name: "audit log limit too big", method: "GET", path: "/tenants/{t}/audit-log?limit=1001", status: 400, detail: "limit"},
		{name: "audit log limit overflow", method: "GET", path: "/tenants/{t}/audit-log?limit=99999999999999999999", status: 400, detail: "limit"},
		{name: "audit log limit repeated", method: "GET", path: "/tenants/{t}/audit-log?limit=1&limit=2", status: 400, detail: "limit"},
		{name: "audit log unknown parameter", method: "GET", path: "/tenants/{t}/audit-log?cursor=x", status: 400, detail: "cursor"},
		{name: "audit log of an invalid tenant id", method: "GET", path: "/tenants/%00/audit-log", status: 403},
		{name: "me with a query", method: "GET", path: "/me?tenant_id={t}", status: 400, detail: "tenant_id"},
		// Usage.
		{name: "usage unknown meter", method: "POST", path: usage, body: body(usageOf(map[string]any{"meter": "nope"})), status: 400, detail: `"nope"`},
		{name: "usage built-in meter", method: "POST", path: usage, body: body(usageOf(map[string]any{"meter": "api_requests"})), status: 400, detail: "api_requests"},
		{name: "usage meter missing", method: "POST", path: usage, body: body(usageOf(map[string]any{"meter": nil})), status: 400},
		{name: "usage negative quantity", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": "-1"})), status: 400, detail: "events[0].quantity"},
		{name: "usage exponent quantity", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": "1e3"})), status: 400},
		{name: "usage numeric quantity", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": 5})), status: 400},
		{name: "usage empty quantity", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": ""})), status: 400},
		{name: "usage quantity missing", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": nil})), status: 400},
		{name: "usage quantity trailing dot", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": "1."})), status: 400},
		{name: "usage quantity leading dot", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": ".5"})), status: 400},
		{name: "usage quantity NaN", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": "NaN"})), status: 400},
		{name: "usage quantity hex", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": "0x10"})), status: 400},
		{name: "usage quantity 13 decimals", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": "1.0000000000001"})), status: 400},
		{name: "usage quantity padded", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": " 1"})), status: 400},
		{name: "usage quantity non-ASCII digit", method: "POST", path: usage, body: body(usageOf(map[string]any{"quantity": "١"})), status: 400},
		{name: "usage timestamp in the future", method: "POST", path: usage, body: body(usageOf(map[string]any{"timestamp": now.Add(time.Hour).Format(time.RFC3339)})), status: 400, detail: "future"},
		{name: "usage timestamp too old", method: "POST", path: usage, body: body(usageOf(map[string]any{"timestamp": now.Add(-40 * 24 * time.Hour).Format(time.RFC3339)})), status: 400},
		{name: "usage timestamp missing", method: "POST", path: usage, body: body(usageOf(map[string]any{"timestamp": nil})), status: 400},
		{name: "usage timestamp not RFC 3339", method: "POST", path: usage, body: body(usageOf(map[string]any{"timestamp": "yesterday"})), status: 400},
		{name: "usage timestamp a number", method: "POST", path: usage, body: body(usageOf(map[string]any{"timestamp": 1700000000})), status: 400},
		{name: "usage id missing", method: "POST", path: usage, body: body(usageOf(map[string]any{"id": nil})), status: 400},
		{name: "usage id too long", method: "POST", path: usage, body: body(usageOf(map[string]any{"id": strings.Repeat("i", 129)})), status: 400},
		{name: "usage id a number", method: "POST", path: usage, body: body(usageOf(map[string]any{"id": 7})), status: 400},
		{name: "usage too many properties", method: "POST", path: usage, body: body(usageOf(map[string]any{"properties": props})), status: 400},
		{name: "usage unknown field", method: "POST", path: usage, body: body(usageOf(map[string]any{"tenant_id": "x"})), status: 400},
		{name: "usage 1,001 events", method: "POST", path: usage, body: body(usageBody(1001, nil)), status: 400, detail: "1000"},
		{name: "usage no events", method: "POST", path: usage, body: body(`{"events":[]}`), status: 400},
		{name: "usage events missing", method: "POST", path: usage, body: body(`{}`), status: 400},
		{name: "usage events an object", method: "POST", path: usage, body: body(`{"events":{}}`), status: 400},
		{name: "usage event null", method: "POST", path: usage, body: body(`{"events":[null]}`), status: 400},
		{name: "usage id repeated in one request", method: "POST", path: usage, body: body(`{"events":[{"id":"r","meter":"compute_seconds","quantity":"1","timestamp":"` + now.Format(time.RFC3339) + `"},{"id":"r","meter":"compute_seconds","quantity":"2","timestamp":"` + now.Format(time.RFC3339) + `"}]}`), status: 400, detail: "repeats"},
		{name: "usage good then bad", method: "POST", path: usage, body: body(`{"events":[` + strings.TrimSuffix(strings.TrimPrefix(usageOf(nil), `{"events":[`), `]}`) + `,{"id":"b","meter":"nope","quantity":"1","timestamp":"` + now.Format(time.RFC3339) + `"}]}`), status: 400},
		{name: "usage over 1 MiB", method: "POST", path: usage, body: body(bigUsage), status: 413},
		{name: "usage malformed", method: "POST", path: usage, body: body(`{"events":[{"id":"a",}]}`), status: 400},
		// Test clock.
		{name: "clock backwards", method: "POST", path: "/test-clock", body: body(`{"now":"2020-01-01T00:00:00Z"}`), status: 400},
		{name: "clock missing now", method: "POST", path: "/test-clock", body: body(`{}`), status: 400},
		{name: "clock not RFC 3339", method: "POST", path: "/test-clock", body: body(`{"now":"tomorrow"}`), status: 400},
		{name: "clock a number", method: "POST", path: "/test-clock", body: body(`{"now":1700000000}`), status: 400},
		{name: "clock unknown field", method: "POST", path: "/test-clock", body: body(`{"now":"2030-01-01T00:00:00Z","then":1}`), status: 400},
		{name: "clock year 10000", method: "POST", path: "/test-clock", body: body(`{"now":"10000-01-01T00:00:00Z"}`), status: 400},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := strings.ReplaceAll(tc.path, "{t}", acme.ID)
			pos, n := h.head()
			clockBefore := h.Clock.Now()
			var raw []byte
			if tc.body != nil {
				raw = []byte(*tc.body)
			}
			var r inputResponse
			if tc.chunked {
				r = h.requestChunked(tc.method, path, acme.Token, raw, tc.headers...)
			} else {
				r = h.request(tc.method, path, acme.Token, raw, tc.headers...)
			}
			assert.Less(t, r.Status, 500, "no request may yield a 5xx: %s", r.Body)
			assert.Equal(t, tc.status, r.Status, "%s", r.Body)
			assert.Empty(t, problemError(r), "%s", r.Body)
			if tc.detail != "" {
				// The offending field or value is named in detail or in errors[].field.
				var p struct {
					Detail string `json:"detail"`
					Errors []struct {
						Field string `json:"field"`
					} `json:"errors"`
				}
				_ = json.Unmarshal(r.Body, &p)
				named := p.Detail
				for _, e := range p.Errors {
					named += " " + e.Field
				}
				assert.Contains(t, named, tc.detail)
			}
			afterPos, afterN := h.head()
			assert.Equal(t, pos, afterPos, "the request wrote to the store")
			assert.Equal(t, n, afterN, "the request wrote to the store")
			assert.False(t, h.Clock.Now().Before(clockBefore))
			assert.Less(t, h.Clock.Now().Sub(clockBefore), time.Minute, "the test clock moved")
		})
	}

	// The tenant is as it was: the item, the plan, the users.
	r = h.request(http.MethodGet, "/tenants/"+acme.ID+"/data/doc", acme.Token, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, `"1"`, r.Header.Get("ETag"))
	r = h.request(http.MethodGet, "/tenants/"+acme.ID, acme.Token, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), `"plan":"free"`)
}

// TestUsageDuplicateIDs pins what docs/api.md promises: an id reported by an
// earlier request is counted as a duplicate and written once (an id repeated
// within one request is bad input, covered by TestBadInput).
func TestUsageDuplicateIDs(t *testing.T) {
	t.Parallel()
	h := newInputAPI(t)
	acme := h.onboard("acme")
	path := "/tenants/" + acme.ID + "/usage"
	tests := []struct {
		name           string
		ids            []string
		accepted, dups int
	}{
		{"first request", []string{"a", "b"}, 2, 0},
		{"retried request", []string{"a", "b"}, 0, 2},
		{"partly new", []string{"b", "c"}, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs := make([]map[string]string, len(tc.ids))
			for i, id := range tc.ids {
				evs[i] = map[string]string{"id": id, "meter": "compute_seconds", "quantity": "2", "timestamp": inputStart.Format(time.RFC3339)}
			}
			_, before := h.head()
			r := h.request(http.MethodPost, path, acme.Token, []byte(jsonOf(map[string]any{"events": evs})))
			require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
			assert.JSONEq(t, fmt.Sprintf(`{"accepted":%d,"duplicates":%d}`, tc.accepted, tc.dups), string(r.Body))
			_, after := h.head()
			// Accepted records of one period are stored as one usage.reported event.
			wantEvents := 0
			if tc.accepted > 0 {
				wantEvents = 1
			}
			assert.Equal(t, wantEvents, after-before, "events written")
		})
	}
}
