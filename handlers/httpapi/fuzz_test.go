package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets, one per request body type: each sends fuzzed bodies through the
// real handler and fails on a 5xx, on an error that is not problem+json, or on
// a success that is not JSON. The seeds (valid and invalid) run as ordinary tests;
// `go test -fuzz FuzzUsage ./handlers/httpapi` explores further.

// checkAnswer fails t if r breaks the error contract.
func checkAnswer(t *testing.T, r inputResponse, input []byte) {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("status %d for input %q: %s", r.Status, input, r.Body)
	}
	if r.Status >= 400 {
		if msg := problemError(r); msg != "" {
			t.Fatalf("status %d for input %q: %s: %s", r.Status, input, msg, r.Body)
		}
		return
	}
	if r.Status == http.StatusNoContent || r.Status == http.StatusNotModified {
		return
	}
	if r.Status >= 300 {
		// ServeMux redirects unclean paths such as an item id "..".
		if r.Header.Get("Location") == "" {
			t.Fatalf("status %d for input %q without a Location", r.Status, input)
		}
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d for input %q: Content-Type %q", r.Status, input, ct)
	}
	if !json.Valid(r.Body) {
		t.Fatalf("status %d for input %q: invalid JSON %q", r.Status, input, r.Body)
	}
	if !utf8.Valid(r.Body) {
		// An answer echoes what was stored: bytes that are not text got in.
		t.Fatalf("status %d for input %q: invalid UTF-8 %q", r.Status, input, r.Body)
	}
}

// commonSeeds are invalid bodies every decoder must refuse cleanly.
var commonSeeds = []string{
	``, ` `, `{`, `}`, `[]`, `null`, `true`, `0`, `"x"`, `{}`, `{}{}`, `{} x`, `{"a":1}`,
	"\xff\xfe", `{"` + strings.Repeat("k", 100) + `":1}`, strings.Repeat("[", 10000),
	// Not text: raw bytes that are not UTF-8 in a value and in a key, and
	// escaped unpaired surrogates, all of which encoding/json turns into U+FFFD.
	"{\"a\":\"\xff\"}", "{\"\xff\":1}", "{\"a\":\"\xed\xa0\x80\"}", `{"a":"\ud800"}`, `{"a":"\udc00x"}`,
	`{"x":` + strings.Repeat(`{"x":`, 500) + `1` + strings.Repeat(`}`, 501),
}

func addSeeds(f *testing.F, valid ...string) {
	for _, s := range append(valid, commonSeeds...) {
		f.Add([]byte(s))
	}
}

// fuzzBody registers a target that sends each input as the body of method path;
// token, when set, authenticates.
func fuzzBody(f *testing.F, h *inputAPI, method, path, token string) {
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAnswer(t, h.request(method, path, token, body), body)
	})
}

func FuzzOnboarding(f *testing.F) {
	h := newInputAPI(f)
	h.onboard("acme")
	addSeeds(f,
		`{"tenant_name":"beta","email":"admin@beta.test","password":"Sup3r-secret!"}`,
		`{"tenant_name":"gamma","email":"admin@gamma.test","password":"Sup3r-secret!","plan":"pro"}`,
		`{"tenant_name":"ACME","email":"a@acme.test","password":"Sup3r-secret!"}`,
		`{"tenant_name":"delta","email":"admin@delta.test","password":"Sup3r-secret!","plan":"enterprise"}`,
		`{"tenant_name":"ab","email":"x","password":"weak"}`,
		`{"tenant_name":42,"email":null,"password":[]}`,
		`{"tenant_name":"epsilon","email":"admin@epsilon.test","password":"Sup3r-secret!","tenant_id":"x"}`,
		`{"tenant_name":"zeta\u0000","email":"admin@zeta.test","password":"Sup3r-secret!"}`,
		`{"tenant_name":"eta","email":"`+strings.Repeat("a", 300)+`@eta.test","password":"Sup3r-secret!"}`,
		`{"tenant_name":"theta","email":"admin@theta.test","password":"`+strings.Repeat("Aa1!", 100)+`"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/onboarding", "")
}

func FuzzLogin(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"tenant_name":"acme","email":"`+acme.Email+`","password":"`+acme.Password+`"}`,
		`{"tenant_name":"acme","email":"`+acme.Email+`","password":"wrong"}`,
		`{"tenant_name":"nobody","email":"a@b.test","password":"Sup3r-secret!"}`,
		`{"tenant_name":"acme","email":"not an email","password":"x"}`,
		`{"tenant_name":"acme"}`,
		`{"tenant_name":"acme","email":"a@b.test","password":"`+strings.Repeat("p", 300)+`"}`,
		`{"tenant_name":1,"email":2,"password":3}`,
		`{"tenant_name":"acme","email":"a@b.test","password":"x","extra":true}`,
	)
	fuzzBody(f, h, http.MethodPost, "/auth/login", "")
}

func FuzzRefresh(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"refresh_token":"`+acme.RefreshToken+`"}`,
		`{"refresh_token":"`+acme.Token+`"}`,
		`{"refresh_token":"a.b.c"}`,
		`{"refresh_token":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}`,
		`{"refresh_token":""}`,
		`{"refresh_token":5}`,
		`{"refresh_token":"`+strings.Repeat("x", 9000)+`"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/auth/refresh", "")
}

func FuzzPlan(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"plan":"pro"}`, `{"plan":"starter"}`, `{"plan":"free"}`,
		`{"plan":"enterprise"}`, `{"plan":""}`, `{"plan":null}`, `{"plan":["pro"]}`,
		`{"plan":"pro","tenant_id":"other"}`,
	)
	fuzzBody(f, h, http.MethodPut, "/tenants/"+acme.ID+"/plan", acme.Token)
}

func FuzzAddUser(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"email":"member@acme.test","password":"Memb3r-secret!"}`,
		`{"email":"admin2@acme.test","password":"Memb3r-secret!","role":"tenant_admin"}`,
		`{"email":"`+acme.Email+`","password":"Memb3r-secret!"}`,
		`{"email":"x@acme.test","password":"Memb3r-secret!","role":"platform_admin"}`,
		`{"email":"bad","password":"weak"}`,
		`{"email":1,"password":true}`,
		`{"email":"y@acme.test","password":"Memb3r-secret!","tenant_id":"other"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/tenants/"+acme.ID+"/users", acme.Token)
}

// FuzzPutItem fuzzes the body, the item id and the If-Match header together.
func FuzzPutItem(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	seeds := []struct{ body, id, ifMatch string }{
		{`{"title":"hello","n":1}`, "doc-1", ""},
		{`{"nested":{"a":[1,2,{"b":null}]}}`, "doc-1", `"1"`},
		{`{"x":1}`, "doc-1", `"9"`},
		{`{"x":1}`, "doc-2", `W/"0"`},
		{`{"x":1}`, "doc-3", `*`},
		{`{"x":1}`, "doc-4", `"abc"`},
		{`{"a":"` + strings.Repeat("x", 64<<10) + `"}`, "big", ""},
		{`[1]`, "doc-5", ""},
		{`{"x":1}`, strings.Repeat("a", 257), ""},
		{`{"x":1}`, "a/b", ""},
		{`{"x":1}`, "é", ""},
		{`{"x":1}`, "..", ""},
		{`{"x":"\ud800"}`, "surrogate", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.id, s.ifMatch)
	}
	for _, s := range commonSeeds {
		f.Add([]byte(s), "doc-1", "")
	}
	f.Fuzz(func(t *testing.T, body []byte, id, ifMatch string) {
		path := "/tenants/" + acme.ID + "/data/" + url.PathEscape(id)
		var headers []string
		if ifMatch != "" {
			headers = []string{"If-Match", ifMatch}
		}
		r := h.request(http.MethodPut, path, acme.Token, body, headers...)
		checkAnswer(t, r, body)
		if r.Status == http.StatusOK && !strings.HasPrefix(r.Header.Get("ETag"), `"`) {
			t.Fatalf("a successful put without an ETag: %q", r.Header.Get("ETag"))
		}
	})
}

func FuzzUsage(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	ts := inputStart.Add(-time.Minute).Format(time.RFC3339)
	addSeeds(f,
		`{"events":[{"id":"a","meter":"compute_seconds","quantity":"12.5","timestamp":"`+ts+`"}]}`,
		`{"events":[{"id":"a","meter":"compute_seconds","quantity":"12.5","timestamp":"`+ts+`","properties":{"region":"eu"}}]}`,
		`{"events":[{"id":"b","meter":"compute_seconds","quantity":"1","timestamp":"`+ts+`"},{"id":"b","meter":"compute_seconds","quantity":"2","timestamp":"`+ts+`"}]}`,
		`{"events":[{"id":"c","meter":"nope","quantity":"1","timestamp":"`+ts+`"}]}`,
		`{"events":[{"id":"d","meter":"compute_seconds","quantity":"-1","timestamp":"`+ts+`"}]}`,
		`{"events":[{"id":"e","meter":"compute_seconds","quantity":"1e3","timestamp":"`+ts+`"}]}`,
		`{"events":[{"id":"f","meter":"compute_seconds","quantity":5,"timestamp":"`+ts+`"}]}`,
		`{"events":[{"id":"g","meter":"compute_seconds","quantity":"99999999999999999999.999999999999","timestamp":"`+ts+`"}]}`,
		`{"events":[{"id":"h","meter":"compute_seconds","quantity":"1","timestamp":"9999-12-31T23:59:59Z"}]}`,
		`{"events":[{"id":"i","meter":"compute_seconds","quantity":"1","timestamp":"2000-01-01T00:00:00Z"}]}`,
		`{"events":[{"id":"j","meter":"compute_seconds","quantity":"1","timestamp":"2026-03-20T09:59:00+14:00"}]}`,
		`{"events":[]}`, `{"events":null}`, `{"events":[null]}`, `{"events":{}}`,
		usageBody(1001, nil),
	)
	fuzzBody(f, h, http.MethodPost, "/tenants/"+acme.ID+"/usage", acme.Token)
}

func FuzzTestClock(f *testing.F) {
	h := newInputAPI(f)
	addSeeds(f,
		`{"now":"2026-03-21T00:00:00Z"}`,
		`{"now":"2026-04-01T02:00:00+02:00"}`,
		`{"now":"2020-01-01T00:00:00Z"}`,
		`{"now":"9999-12-31T23:59:59.999999999Z"}`,
		`{"now":"10000-01-01T00:00:00Z"}`,
		`{"now":"0001-01-01T00:00:00Z"}`,
		`{"now":"tomorrow"}`, `{"now":1700000000}`, `{"now":null}`,
		`{"now":"2026-03-21T00:00:00Z","then":1}`,
	)
	fuzzBody(f, h, http.MethodPost, "/test-clock", "")
}

func FuzzPatchUser(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"roles":["tenant_admin"]}`, `{"roles":["tenant_member"]}`, `{"roles":["tenant_member","tenant_admin","tenant_admin"]}`,
		`{"roles":[]}`, `{"roles":null}`, `{"roles":["root"]}`, `{"roles":["platform_admin"]}`, `{"roles":"tenant_admin"}`,
		`{"roles":[1]}`, `{"roles":["tenant_admin"],"tenant_id":"other"}`,
	)
	// The tenant's only admin: every valid demotion is a 409, so the fuzzer
	// cannot lock itself out of the tenant.
	fuzzBody(f, h, http.MethodPatch, "/tenants/"+acme.ID+"/users/"+acme.UserID, acme.Token)
}

func FuzzLogout(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"refresh_token":"`+acme.Token+`"}`,
		`{"refresh_token":"tsr_x.y.abcdefghijklmnopqrstuvwxyz234567"}`,
		`{"refresh_token":"tsr_`+acme.ID+`.nope.abcdefghijklmnopqrstuvwxyz234567"}`,
		`{"refresh_token":""}`, `{"refresh_token":5}`, `{"refresh_token":"`+strings.Repeat("x", 9000)+`"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/auth/logout", "")
}

func FuzzChangePassword(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"current_password":"Wr0ng-password!","new_password":"N3w-secret-pass"}`,
		`{"current_password":"`+acme.Password+`","new_password":"weak"}`,
		`{"current_password":"","new_password":""}`,
		`{"current_password":"`+strings.Repeat("p", 300)+`","new_password":"N3w-secret-pass"}`,
		`{"current_password":1,"new_password":true}`,
		`{"current_password":"a","new_password":"b","user_id":"x"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/auth/password", acme.Token)
}

// FuzzAuditLogQuery fuzzes the audit log's after and limit: no answer is a
// 5xx, and no page shows a password or a key.
func FuzzAuditLogQuery(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	_, key := h.createKey(acme, "ingest", "usage:write")
	first, r := h.auditLog(acme.Token, acme.ID, "", 1)
	if r.Status != http.StatusOK {
		f.Fatalf("audit log: %d %s", r.Status, r.Body)
	}
	c := first.NextCursor
	for _, s := range []struct{ after, limit string }{
		{"", ""}, {"", "1"}, {"", "1000"}, {c, "2"}, {c, ""}, {"", "0"}, {"", "-1"}, {"", "1001"}, {"", "1e3"},
		{"", "99999999999999999999"}, {"", " 1"}, {c[:len(c)-1], "1"}, {c + "A", "1"}, {"mem:1", "1"}, {"garbage", ""},
		{strings.Repeat("A", 5000), "1"}, {"\x00\xff", "\xff"}, {"p1.0", "1"},
	} {
		f.Add(s.after, s.limit)
	}
	f.Fuzz(func(t *testing.T, after, limit string) {
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		if limit != "" {
			q.Set("limit", limit)
		}
		r := h.request(http.MethodGet, "/tenants/"+acme.ID+"/audit-log?"+q.Encode(), acme.Token, nil)
		checkAnswer(t, r, []byte(q.Encode()))
		for _, secret := range []string{acme.Password, key, "$argon2id$"} {
			if strings.Contains(string(r.Body), secret) {
				t.Fatalf("the audit log shows a secret for %q: %s", q.Encode(), r.Body)
			}
		}
	})
}

func FuzzInvitation(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"email":"carol@acme.test"}`, `{"email":"dan@acme.test","roles":["tenant_admin"]}`,
		`{"email":"`+acme.Email+`"}`, `{"email":"x@acme.test","roles":[]}`, `{"email":"x@acme.test","roles":["root"]}`,
		`{"email":"bad"}`, `{"email":1}`, `{"email":"y@acme.test","tenant_id":"other"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/tenants/"+acme.ID+"/invitations", acme.Token)
}

func FuzzAcceptInvitation(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"token":"tsi_`+acme.ID+`.nope.abcdefghijklmnopqrstuvwxyz234567","password":"Val1d-password-here"}`,
		`{"token":"tsi_x.y.z","password":"weak"}`, `{"token":"","password":""}`,
		`{"token":"tsr_`+acme.ID+`.a.abcdefghijklmnopqrstuvwxyz234567","password":"Val1d-password-here"}`,
		`{"token":"`+strings.Repeat("t", 9000)+`","password":"Val1d-password-here"}`,
		`{"token":1,"password":true}`, `{"token":"t","password":"p","email":"x"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/invitations/accept", "")
}

func FuzzPasswordReset(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"tenant_name":"acme","email":"`+acme.Email+`"}`, `{"tenant_name":"nobody","email":"a@b.test"}`,
		`{"tenant_name":"acme","email":"not an email"}`, `{"tenant_name":"","email":""}`,
		`{"tenant_name":1,"email":2}`, `{"tenant_name":"acme","email":"a@b.test","x":1}`,
	)
	fuzzBody(f, h, http.MethodPost, "/auth/password-reset", "")
}

func FuzzConfirmPasswordReset(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"token":"tsp_`+acme.ID+`.nope.abcdefghijklmnopqrstuvwxyz234567","new_password":"Val1d-password-here"}`,
		`{"token":"tsp_a.b.c","new_password":"weak"}`, `{"token":"","new_password":""}`,
		`{"token":"`+strings.Repeat("t", 9000)+`","new_password":"Val1d-password-here"}`,
		`{"token":1,"new_password":true}`, `{"token":"t","new_password":"p","user_id":"x"}`,
	)
	fuzzBody(f, h, http.MethodPost, "/auth/password-reset/confirm", "")
}
