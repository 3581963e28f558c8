package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAlertsRoutesRefuseAttackers: PUT /tenants/{tenant_id}/alerts by a
// member, by another tenant, with malformed or huge bodies and with a reused
// Idempotency-Key: each a 4xx problem that changes nothing; 40 concurrent PUTs
// never a 500.
func TestAlertsRoutesRefuseAttackers(t *testing.T) {
	h := newInputAPI(t)
	acme, other := h.onboard("acme"), h.onboard("other")
	_, memberToken := h.addUser(acme, "member@acme.test", "Membr-Pass1!", "tenant_member")
	path := "/tenants/" + acme.ID + "/alerts"
	valid := `{"thresholds":[{"meter":"compute_seconds","quantity":"3600"},{"subtotal":"50.00"}],"spend_cap":"100.00"}`
	version := func() float64 {
		t.Helper()
		r := h.request(http.MethodGet, path, memberToken, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var v map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &v))
		return v["version"].(float64)
	}
	problemOf := func(r inputResponse, status int) {
		t.Helper()
		require.Equal(t, status, r.Status, "%s", r.Body)
		require.Empty(t, problemError(r), "%s", r.Body)
	}

	r := h.request(http.MethodPut, path, acme.Token, []byte(valid))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var v map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &v))
	assert.Equal(t, "tenant", v["source"])
	assert.Equal(t, "100", v["spend_cap"])
	require.Equal(t, float64(1), version())

	problemOf(h.request(http.MethodPut, path, memberToken, []byte(valid)), http.StatusForbidden)
	r = h.request(http.MethodPut, path, other.Token, []byte(valid))
	assert.Contains(t, []int{http.StatusForbidden, http.StatusNotFound}, r.Status, "%s", r.Body)
	assert.Empty(t, problemError(r))
	r = h.request(http.MethodGet, path, other.Token, nil)
	assert.Contains(t, []int{http.StatusForbidden, http.StatusNotFound}, r.Status, "%s", r.Body)
	problemOf(h.request(http.MethodGet, path, "", nil), http.StatusUnauthorized)

	for _, body := range []string{
		`{}`, `{"thresholds":null}`, `{"thresholds":{}}`, `{"thresholds":[1]}`, `{"thresholds":[{"meter":"compute_seconds","quantity":3600}]}`,
		`{"thresholds":[{"meter":"compute_seconds","percent_of_limit":"80"}]}`, `{"thresholds":[{"meter":"compute_seconds","percent_of_limit":80.5}]}`,
		`{"thresholds":[{"meter":"compute_seconds","quantity":"1","extra":true}]}`, `{"thresholds":[],"spend_cap":100}`,
		`{"thresholds":[],"tenant_id":"` + other.ID + `"}`, `{"thresholds":[{"meter":"nope","quantity":"1"}]}`,
		`{"thresholds":[{"meter":"compute_seconds","percent_of_limit":80}]}`, // no limit on the plan
		`{"thresholds":[{"subtotal":"1e3"}]}`, `{"thresholds":[{"subtotal":"0"}]}`, `{"thresholds":[],"spend_cap":"-5"}`,
		`{"thresholds":[` + strings.TrimSuffix(strings.Repeat(`{"subtotal":"1"},`, 101), ",") + `]}`,
	} {
		problemOf(h.request(http.MethodPut, path, acme.Token, []byte(body)), http.StatusBadRequest)
	}
	huge := `{"thresholds":[` + strings.TrimSuffix(strings.Repeat(`{"meter":"compute_seconds","quantity":"1"},`, 1000), ",") + `]}`
	problemOf(h.request(http.MethodPut, path, acme.Token, []byte(huge)), http.StatusRequestEntityTooLarge)
	assert.Equal(t, float64(1), version(), "no refused request changed the configuration")

	// A reused key: the same body replays, another body is a 422.
	first := h.request(http.MethodPut, path, acme.Token, []byte(`{"thresholds":[]}`), "Idempotency-Key", "alerts-1")
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	again := h.request(http.MethodPut, path, acme.Token, []byte(`{"thresholds":[]}`), "Idempotency-Key", "alerts-1")
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	assert.JSONEq(t, string(first.Body), string(again.Body))
	problemOf(h.request(http.MethodPut, path, acme.Token, []byte(valid), "Idempotency-Key", "alerts-1"), http.StatusUnprocessableEntity)
	problemOf(h.request(http.MethodPut, "/tenants/"+acme.ID+"/plan", acme.Token, []byte(`{"plan":"pro"}`), "Idempotency-Key", "alerts-1"), http.StatusUnprocessableEntity)
	assert.Equal(t, float64(2), version())

	// 40 concurrent replacements: each stored once, none a 5xx.
	var wg sync.WaitGroup
	statuses := make(chan int, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"thresholds":[{"subtotal":"%d.00"}]}`, i+1)
			statuses <- h.request(http.MethodPut, path, acme.Token, []byte(body)).Status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		assert.Equal(t, http.StatusOK, s)
	}
	assert.Equal(t, float64(42), version())
}

func FuzzAlerts(f *testing.F) {
	h := newInputAPI(f)
	acme := h.onboard("acme")
	addSeeds(f,
		`{"thresholds":[{"meter":"compute_seconds","quantity":"3600"},{"subtotal":"50.00"}],"spend_cap":"100.00"}`,
		`{"thresholds":[]}`, `{"thresholds":[{"percent_of_limit":80},{"percent_of_limit":100}]}`,
		`{"thresholds":[{"meter":"compute_seconds","percent_of_limit":80}]}`,
		`{"thresholds":[{"meter":"api_requests","quantity":"0.000000000001"}],"spend_cap":"0"}`,
		`{"thresholds":[{"subtotal":"99999999999999999999.99"}]}`, `{"thresholds":[{"quantity":"1","subtotal":"1"}]}`,
		`{"thresholds":[{"meter":"compute_seconds","quantity":3600}]}`, `{"thresholds":[],"spend_cap":null}`,
	)
	fuzzBody(f, h, http.MethodPut, "/tenants/"+acme.ID+"/alerts", acme.Token)
}
