package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/projections"
)

// An Idempotency-Key never changes what a request
// means, a retry gets the first answer, and a key reused for another request is
// a 422 that changes nothing, on every route that takes a key.

// eventCount is how many events the store holds for the tenant.
func eventCount(t *testing.T, l *liveApp, tenant string) int {
	t.Helper()
	n := 0
	for _, ev := range l.allEvents(t) {
		if ev.TenantID == events.TenantID(tenant) {
			n++
		}
	}
	return n
}

func TestConcurrentCreateOnlyPutsWithKeysHaveOneWinner(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "racers")
	tok := l.login(t, ten).AccessToken
	path := "/tenants/" + ten.ID + "/data/contested"

	const n = 40
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := l.do(t, http.MethodPut, path, tok, fmt.Sprintf(`{"writer":%d}`, i),
				"If-None-Match", "*", "Idempotency-Key", fmt.Sprintf("create-%d", i))
			statuses[i] = r.status
		})
	}
	wg.Wait()
	winners := 0
	for i, s := range statuses {
		switch s {
		case http.StatusOK:
			winners++
		case http.StatusPreconditionFailed:
		default:
			t.Errorf("request %d: status %d", i, s)
		}
	}
	assert.Equal(t, 1, winners, "exactly one create-only PUT wins: %v", statuses)
	var got struct {
		Version int64 `json:"version"`
	}
	l.must(t, http.StatusOK, &got, http.MethodGet, path, tok, nil)
	assert.Equal(t, int64(1), got.Version, "the item was written once")
}

func TestConcurrentRetriesOfOneKeyedRequestWriteOnce(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "retriers")
	tok := l.login(t, ten).AccessToken
	path := "/tenants/" + ten.ID + "/data/once"
	before := eventCount(t, l, ten.ID)

	const n = 40
	res := make([]liveResponse, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res[i] = l.do(t, http.MethodPut, path, tok, `{"v":1}`, "If-None-Match", "*", "Idempotency-Key", "same-create")
		})
	}
	wg.Wait()
	for i := range n {
		require.Equal(t, http.StatusOK, res[i].status, "retry %d: %s", i, res[i])
		assert.JSONEq(t, string(res[0].body), string(res[i].body), "every retry gets the first answer")
		assert.Equal(t, `"1"`, res[i].header.Get("ETag"))
	}
	assert.Equal(t, before+1, eventCount(t, l, ten.ID), "one event for 40 attempts")
}

func TestCreateOnlyPutWithAFreshKeyDoesNotOverwrite(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "keepers")
	tok := l.login(t, ten).AccessToken
	path := "/tenants/" + ten.ID + "/data/doc"
	l.must(t, http.StatusOK, nil, http.MethodPut, path, tok, `{"v":"original"}`)

	tests := []struct {
		name    string
		headers []string
	}{
		{"If-None-Match *", []string{"If-None-Match", "*"}},
		{`If-Match "0" (create only)`, []string{"If-Match", `"0"`}},
		{"If-Match of another version", []string{"If-Match", `"7"`}},
	}
	for _, tc := range tests {
		r := l.do(t, http.MethodPut, path, tok, `{"v":"overwritten"}`, append(tc.headers, "Idempotency-Key", "fresh-"+tc.name)...)
		assert.Equal(t, http.StatusPreconditionFailed, r.status, "%s: %s", tc.name, r)
	}
	var got struct {
		Data    map[string]string `json:"data"`
		Version int64             `json:"version"`
	}
	l.must(t, http.StatusOK, &got, http.MethodGet, path, tok, nil)
	assert.Equal(t, "original", got.Data["v"])
	assert.Equal(t, int64(1), got.Version)

	// The retry of a create-only PUT that succeeded gets its first answer, not
	// a failed precondition, even after the item has changed since.
	fresh := "/tenants/" + ten.ID + "/data/fresh"
	first := l.do(t, http.MethodPut, fresh, tok, `{"v":1}`, "If-None-Match", "*", "Idempotency-Key", "k-fresh")
	require.Equal(t, http.StatusOK, first.status, "%s", first)
	l.must(t, http.StatusOK, nil, http.MethodPut, fresh, tok, `{"v":2}`)
	retry := l.do(t, http.MethodPut, fresh, tok, `{"v":1}`, "If-None-Match", "*", "Idempotency-Key", "k-fresh")
	require.Equal(t, http.StatusOK, retry.status, "%s", retry)
	assert.JSONEq(t, string(first.body), string(retry.body))
	assert.Equal(t, `"1"`, retry.header.Get("ETag"))
}

// TestKeyReusedForAnotherRequestIs422 sends, on every route that takes a key, a
// first request and then the same key with something changed: 422, and the
// store holds exactly what it held before.
func TestKeyReusedForAnotherRequestIs422(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "reusers")
	tok := l.login(t, ten).AccessToken
	other := l.onboard(t, "neighbours")
	otherTok := l.login(t, other).AccessToken
	base := "/tenants/" + ten.ID
	now := time.Now().UTC().Format(time.RFC3339)
	usage := func(id, qty string) string {
		return fmt.Sprintf(`{"events":[{"id":%q,"meter":"compute_seconds","quantity":%q,"timestamp":%q}]}`, id, qty, now)
	}
	l.must(t, http.StatusOK, nil, http.MethodPut, base+"/data/victim", tok, `{"v":1}`)

	type req struct {
		method, path, token, body string
		headers                   []string
	}
	tests := []struct {
		name          string
		first, second req
		firstStatus   int
	}{
		{"PUT item, another body",
			req{"PUT", base + "/data/a", tok, `{"v":1}`, nil}, req{"PUT", base + "/data/a", tok, `{"v":2}`, nil}, 200},
		{"PUT item, another item",
			req{"PUT", base + "/data/b", tok, `{"v":1}`, nil}, req{"PUT", base + "/data/victim", tok, `{"v":1}`, nil}, 200},
		{"PUT item, another precondition",
			req{"PUT", base + "/data/c", tok, `{"v":1}`, nil}, req{"PUT", base + "/data/c", tok, `{"v":1}`, []string{"If-Match", `"1"`}}, 200},
		{"PUT item, then DELETE it with the key",
			req{"PUT", base + "/data/d", tok, `{"v":1}`, nil}, req{"DELETE", base + "/data/d", tok, "", nil}, 200},
		{"DELETE item, then PUT it with the key",
			req{"DELETE", base + "/data/victim", tok, "", nil}, req{"PUT", base + "/data/victim", tok, `{"v":"back"}`, nil}, 204},
		{"plan change, another plan",
			req{"PUT", base + "/plan", tok, `{"plan":"pro"}`, nil}, req{"PUT", base + "/plan", tok, `{"plan":"free"}`, nil}, 200},
		{"add user, another email",
			req{"POST", base + "/users", tok, `{"email":"one@reusers.example","password":"Corr3ct-Horse!"}`, nil},
			req{"POST", base + "/users", tok, `{"email":"two@reusers.example","password":"Corr3ct-Horse!"}`, nil}, 201},
		{"usage, another quantity",
			req{"POST", base + "/usage", tok, usage("u-1", "1"), nil}, req{"POST", base + "/usage", tok, usage("u-1", "2"), nil}, 202},
		{"usage, then an item write with the key",
			req{"POST", base + "/usage", tok, usage("u-2", "1"), nil}, req{"PUT", base + "/data/e", tok, `{"v":1}`, nil}, 202},
		{"onboarding, another name",
			req{"POST", "/onboarding", "", `{"tenant_name":"first-co","email":"a@first.example","password":"Corr3ct-Horse!"}`, nil},
			req{"POST", "/onboarding", "", `{"tenant_name":"second-co","email":"a@first.example","password":"Corr3ct-Horse!"}`, nil}, 201},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("reuse-%d", i)
			send := func(r req) liveResponse {
				var body any
				if r.body != "" {
					body = r.body
				}
				return l.do(t, r.method, r.path, r.token, body, append(r.headers, "Idempotency-Key", key)...)
			}
			first := send(tc.first)
			require.Equal(t, tc.firstStatus, first.status, "first: %s", first)
			l.settle(t)
			before := commandEvents(t, l)
			second := send(tc.second)
			p := requireProblemLive(t, second, http.StatusUnprocessableEntity)
			assert.Equal(t, "unprocessable", p["code"])
			assert.Contains(t, p["detail"], "Idempotency-Key")
			l.settle(t)
			assert.Equal(t, before, commandEvents(t, l), "the refused request wrote nothing")

			// The first request's retry still gets its first answer.
			again := send(tc.first)
			require.Equal(t, first.status, again.status, "retry: %s", again)
			if len(first.body) > 0 {
				assert.JSONEq(t, string(first.body), string(again.body), "retry answers the first response")
			}
		})
	}

	t.Run("another tenant may use the same key", func(t *testing.T) {
		r := l.do(t, http.MethodPut, "/tenants/"+other.ID+"/data/a", otherTok, `{"v":"mine"}`, "Idempotency-Key", "reuse-0")
		require.Equal(t, http.StatusOK, r.status, "%s", r)
		var got struct {
			Data map[string]string `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.body, &got))
		assert.Equal(t, "mine", got.Data["v"])
	})
}

// commandEvents counts the store's events but the built-in meters' flushes
// (every authenticated request, refused or not, counts as an API request).
func commandEvents(t *testing.T, l *liveApp) int {
	t.Helper()
	n := 0
	for _, ev := range l.allEvents(t) {
		if ev.Type == metering.TypeRecorded || platformMetering(t, ev) {
			continue // the platform's own meters count every request
		}
		n++
	}
	return n
}

// platformMetering reports whether ev is the built-in meters' flush: a
// usage.reported whose records the platform made.
func platformMetering(t *testing.T, ev events.Event) bool {
	t.Helper()
	if ev.Type != metering.TypeReported {
		return false
	}
	var rep metering.Reported
	require.NoError(t, json.Unmarshal(ev.Data, &rep))
	return len(rep.Records) > 0 && rep.Records[0].Source == "platform"
}

func requireProblemLive(t *testing.T, r liveResponse, status int) map[string]any {
	t.Helper()
	return requireProblem(t, response{Status: r.status, Header: r.header, Body: r.body}, status)
}

// TestClientKeysCannotNameInternalKeys: onboarding derives keys for its later
// steps from the client's key; a client sending those names later must get its
// own request done, not the onboarding's answer.
func TestClientKeysCannotNameInternalKeys(t *testing.T) {
	l := startLiveApp(t, Config{})
	const key = "setup-1"
	var out struct {
		TenantID string `json:"tenant_id"`
		Plan     string `json:"plan"`
	}
	l.must(t, http.StatusCreated, &out, http.MethodPost, "/onboarding", "",
		`{"tenant_name":"collider","email":"admin@collider.example","password":"Corr3ct-Horse!","plan":"starter"}`, "Idempotency-Key", key)
	tok := l.login(t, liveTenant{Name: "collider", Email: "admin@collider.example", Password: "Corr3ct-Horse!"}).AccessToken
	for i, k := range []string{"onboard:tenant:" + key, "i:onboard:tenant:" + key, "onboard:user:" + key, "c:" + key, key} {
		plan := []string{"pro", "free"}[i%2]
		var got struct {
			Plan string `json:"plan"`
		}
		l.must(t, http.StatusOK, &got, http.MethodPut, "/tenants/"+out.TenantID+"/plan", tok, fmt.Sprintf(`{"plan":%q}`, plan), "Idempotency-Key", k)
		assert.Equal(t, plan, got.Plan, "key %q changed the plan", k)
		var profile struct {
			Plan string `json:"plan"`
		}
		l.must(t, http.StatusOK, &profile, http.MethodGet, "/tenants/"+out.TenantID, tok, nil)
		assert.Equal(t, plan, profile.Plan, "key %q", k)
	}
}

func TestDeleteThenPutWithOneKeyIsNever5xx(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "deleters")
	tok := l.login(t, ten).AccessToken
	path := "/tenants/" + ten.ID + "/data/gone"
	l.must(t, http.StatusOK, nil, http.MethodPut, path, tok, `{"v":1}`)
	l.must(t, http.StatusNoContent, nil, http.MethodDelete, path, tok, nil, "Idempotency-Key", "del-1")
	r := l.do(t, http.MethodPut, path, tok, `{"v":2}`, "Idempotency-Key", "del-1")
	requireProblemLive(t, r, http.StatusUnprocessableEntity)
	// The DELETE's retry answers as the first one did.
	l.must(t, http.StatusNoContent, nil, http.MethodDelete, path, tok, nil, "Idempotency-Key", "del-1")
	// A GET of the deleted item is 404; a PUT without the key brings it back.
	requireProblemLive(t, l.do(t, http.MethodGet, path, tok, nil), http.StatusNotFound)
	l.must(t, http.StatusOK, nil, http.MethodPut, path, tok, `{"v":3}`, "If-None-Match", "*")
}

func TestUsageRetryGetsTheFirstAnswer(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "meters")
	tok := l.login(t, ten).AccessToken
	now := time.Now().UTC().Format(time.RFC3339)
	body := fmt.Sprintf(`{"events":[{"id":"a","meter":"compute_seconds","quantity":"1","timestamp":%q},{"id":"b","meter":"compute_seconds","quantity":"2","timestamp":%q}]}`, now, now)
	var first, retry, unkeyed map[string]int
	l.must(t, http.StatusAccepted, &first, http.MethodPost, "/tenants/"+ten.ID+"/usage", tok, body, "Idempotency-Key", "report-1")
	assert.Equal(t, map[string]int{"accepted": 2, "duplicates": 0}, first)
	l.must(t, http.StatusAccepted, &retry, http.MethodPost, "/tenants/"+ten.ID+"/usage", tok, body, "Idempotency-Key", "report-1")
	assert.Equal(t, first, retry, "the retry answers what the first request answered")
	l.must(t, http.StatusAccepted, &unkeyed, http.MethodPost, "/tenants/"+ten.ID+"/usage", tok, body)
	assert.Equal(t, map[string]int{"accepted": 0, "duplicates": 2}, unkeyed, "without a key the ids still deduplicate")
}

// TestExpiredKeyIsANewRequest: keys are kept for 24 hours (docs/api.md); after
// that the same key is simply a new request.
func TestExpiredKeyIsANewRequest(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	l := startLiveApp(t, Config{TestClock: true, StartAt: start})
	ten := l.onboard(t, "forgetful")
	tok := l.login(t, ten).AccessToken
	path := "/tenants/" + ten.ID + "/data/doc"
	l.must(t, http.StatusOK, nil, http.MethodPut, path, tok, `{"v":1}`, "Idempotency-Key", "daily")

	l.must(t, http.StatusOK, nil, http.MethodPost, "/test-clock", "", map[string]string{"now": start.Add(23 * time.Hour).Format(time.RFC3339)})
	tok = l.login(t, ten).AccessToken
	requireProblemLive(t, l.do(t, http.MethodPut, path, tok, `{"v":2}`, "Idempotency-Key", "daily"), http.StatusUnprocessableEntity)

	l.must(t, http.StatusOK, nil, http.MethodPost, "/test-clock", "", map[string]string{"now": start.Add(25 * time.Hour).Format(time.RFC3339)})
	tok = l.login(t, ten).AccessToken
	var got struct {
		Version int64 `json:"version"`
	}
	l.must(t, http.StatusOK, &got, http.MethodPut, path, tok, `{"v":2}`, "Idempotency-Key", "daily")
	assert.Equal(t, int64(2), got.Version, "the expired key was a new request")
}

// TestConditionalRequestsFollowRFC9110 checks GET's If-None-Match and If-Match
// and the deleted-item rule against a real server.
func TestConditionalRequestsFollowRFC9110(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "conditional")
	tok := l.login(t, ten).AccessToken
	path := "/tenants/" + ten.ID + "/data/doc"
	l.must(t, http.StatusOK, nil, http.MethodPut, path, tok, `{"v":1}`)
	l.must(t, http.StatusOK, nil, http.MethodPut, path, tok, `{"v":2}`) // version 2

	gets := []struct {
		name    string
		headers []string
		status  int
	}{
		{"If-None-Match the current tag", []string{"If-None-Match", `"2"`}, http.StatusNotModified},
		{"If-None-Match a list holding it", []string{"If-None-Match", `"1", "2", "9"`}, http.StatusNotModified},
		{"If-None-Match its weak form", []string{"If-None-Match", `W/"2"`}, http.StatusNotModified},
		{"If-None-Match *", []string{"If-None-Match", "*"}, http.StatusNotModified},
		{"If-None-Match an old tag", []string{"If-None-Match", `"1"`}, http.StatusOK},
		{"If-Match the current tag", []string{"If-Match", `"2"`}, http.StatusOK},
		{"If-Match an old tag", []string{"If-Match", `"1"`}, http.StatusPreconditionFailed},
		{"If-Match a weak tag", []string{"If-Match", `W/"2"`}, http.StatusPreconditionFailed},
		{"If-Match malformed", []string{"If-Match", `2`}, http.StatusBadRequest},
	}
	for _, tc := range gets {
		r := l.do(t, http.MethodGet, path, tok, nil, tc.headers...)
		assert.Equal(t, tc.status, r.status, "%s: %s", tc.name, r)
		if tc.status == http.StatusNotModified {
			assert.Empty(t, r.body, tc.name)
			assert.Equal(t, `"2"`, r.header.Get("ETag"), tc.name)
		}
	}

	// A deleted item is missing for every precondition.
	l.must(t, http.StatusNoContent, nil, http.MethodDelete, path, tok, nil, "If-Match", `"2"`)
	for _, h := range [][]string{{"If-Match", "*"}, {"If-Match", `"3"`}, {"If-Match", `"2"`}} {
		r := l.do(t, http.MethodPut, path, tok, `{"v":3}`, h...)
		assert.Equal(t, http.StatusPreconditionFailed, r.status, "%v on a deleted item: %s", h, r)
	}
	r := l.do(t, http.MethodDelete, path, tok, nil, "If-Match", "*")
	assert.Equal(t, http.StatusPreconditionFailed, r.status, "DELETE If-Match * on a deleted item: %s", r)
	var got struct {
		Version int64 `json:"version"`
	}
	l.must(t, http.StatusOK, &got, http.MethodPut, path, tok, `{"v":4}`, "If-None-Match", "*")
	assert.Equal(t, int64(4), got.Version, "create-only succeeds on a deleted item")
}

// TestKeyedRetryCannotChangeAPassword: fingerprints leave passwords out (the
// store must not hold a fast hash of one); the stored argon2id hash checks a
// keyed retry's password instead, so another password is another request (422)
// and changes nothing.
func TestKeyedRetryCannotChangeAPassword(t *testing.T) {
	l := startLiveApp(t, Config{})
	const first, second = "Corr3ct-Horse!", "An0ther-Horse!"
	onboard := func(password string) liveResponse {
		return l.do(t, http.MethodPost, "/onboarding", "", fmt.Sprintf(`{"tenant_name":"pw-co","email":"admin@pw.example","password":%q}`, password), "Idempotency-Key", "onboard-pw")
	}
	a := onboard(first)
	require.Equal(t, http.StatusCreated, a.status, "%s", a)
	requireProblemLive(t, onboard(second), http.StatusUnprocessableEntity)
	b := onboard(first)
	require.Equal(t, http.StatusCreated, b.status, "%s", b)
	assert.JSONEq(t, string(a.body), string(b.body), "the same password: the first answer")
	login := func(email, password string) int {
		return l.do(t, http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": "pw-co", "email": email, "password": password}).status
	}
	assert.Equal(t, http.StatusUnauthorized, login("admin@pw.example", second))
	assert.Equal(t, http.StatusOK, login("admin@pw.example", first))

	var out struct {
		TenantID string `json:"tenant_id"`
	}
	require.NoError(t, json.Unmarshal(a.body, &out))
	tok := l.login(t, liveTenant{Name: "pw-co", Email: "admin@pw.example", Password: first}).AccessToken
	add := func(password string) liveResponse {
		return l.do(t, http.MethodPost, "/tenants/"+out.TenantID+"/users", tok, fmt.Sprintf(`{"email":"member@pw.example","password":%q}`, password), "Idempotency-Key", "add-pw")
	}
	c := add(first)
	require.Equal(t, http.StatusCreated, c.status, "%s", c)
	requireProblemLive(t, add(second), http.StatusUnprocessableEntity)
	d := add(first)
	require.Equal(t, http.StatusCreated, d.status, "%s", d)
	assert.JSONEq(t, string(c.body), string(d.body))
	assert.Equal(t, http.StatusUnauthorized, login("member@pw.example", second))
	assert.Equal(t, http.StatusOK, login("member@pw.example", first))

	// No stored fingerprint is a fast hash of a body that holds the password.
	for _, body := range []string{
		`{"tenant_name":"pw-co","email":"admin@pw.example","password":"Corr3ct-Horse!"}`,
		`{"email":"member@pw.example","password":"Corr3ct-Horse!"}`,
	} {
		sum := sha256.Sum256([]byte(body))
		for _, pattern := range []string{"POST /onboarding", "POST /tenants/{tenant_id}/users"} {
			for _, path := range []string{"/onboarding", "/tenants/" + out.TenantID + "/users"} {
				for _, who := range [][2]string{{"", ""}, {out.TenantID, ""}} {
					fp := httpapi.RequestFingerprint(http.MethodPost, pattern, path, who[0], who[1], nil, nil, sum[:])
					for _, k := range []struct {
						tenant events.TenantID
						key    string
					}{{projections.PlatformTenant, "c:onboard-pw"}, {events.TenantID(out.TenantID), "c:add-pw"}} {
						rec, found, err := l.Store.Idempotency(t.Context(), k.tenant, k.key)
						require.NoError(t, err)
						require.True(t, found, "key %s", k.key)
						assert.NotEqual(t, fp, rec.Fingerprint)
					}
				}
			}
		}
	}
}

// TestConcurrentUsageReportsWithOneKeyStoreOnlyTheWinner: 40 reports with one
// key and 40 different records race. One wins the key (202); each of the other
// 39 is a 422 that stored nothing, so a later report of its record is
// accepted, not a duplicate.
func TestConcurrentUsageReportsWithOneKeyStoreOnlyTheWinner(t *testing.T) {
	l := startLiveApp(t, Config{})
	ten := l.onboard(t, "keyracers")
	tok := l.login(t, ten).AccessToken
	now := time.Now().UTC().Format(time.RFC3339)
	report := func(i int) string {
		return fmt.Sprintf(`{"events":[{"id":"rec-%d","meter":"compute_seconds","quantity":"1","timestamp":%q}]}`, i, now)
	}
	const n = 40
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = l.do(t, http.MethodPost, "/tenants/"+ten.ID+"/usage", tok, report(i), "Idempotency-Key", "one-key").status
		})
	}
	wg.Wait()
	won := 0
	for i, s := range statuses {
		var got map[string]int
		switch s {
		case http.StatusAccepted:
			won++
			l.must(t, http.StatusAccepted, &got, http.MethodPost, "/tenants/"+ten.ID+"/usage", tok, report(i))
			assert.Equal(t, map[string]int{"accepted": 0, "duplicates": 1}, got, "the winner's record was stored")
		case http.StatusUnprocessableEntity:
			l.must(t, http.StatusAccepted, &got, http.MethodPost, "/tenants/"+ten.ID+"/usage", tok, report(i))
			assert.Equal(t, map[string]int{"accepted": 1, "duplicates": 0}, got, "report %d was refused, yet its record had been stored", i)
		default:
			t.Errorf("report %d: status %d", i, s)
		}
	}
	assert.Equal(t, 1, won, "one report wins the key: %v", statuses)
}
