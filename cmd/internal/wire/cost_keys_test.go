package wire

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/handlers/awstest"
)

// verification is what authenticating one request added to its api
// invocation: the keyed request's bill minus the same request's with the
// JWT authorizer's claims (which cost nothing to verify).
type verification struct {
	requests int
	rru, wru float64
	calls    []string
}

func less(keyed, claimed awsBill) verification {
	// The key's own calls, counted from the calls themselves: subtracting the
	// claimed request's totals would also subtract whatever else differs
	// between two requests on a loaded machine (a cache refreshed in one).
	var v verification
	for _, c := range keyed.calls {
		if strings.Contains(c, " T#_platform#S#"+apikey.IndexStreamID("")) || strings.Contains(c, "#S#"+apikey.StreamID+" ") {
			v.calls = append(v.calls, c)
			v.requests++
			f := strings.Fields(c)
			if len(f) >= 2 {
				v.wru += callUnits(f[len(f)-2], "W")
				v.rru += callUnits(f[len(f)-1], "R")
			}
		}
	}
	return v
}

// callUnits parses a call's "1.5R" or "0.0W".
func callUnits(s, suffix string) float64 {
	n, err := strconv.ParseFloat(strings.TrimSuffix(s, suffix), 64)
	if err != nil {
		return 0
	}
	return n
}

// TestKeyedRequestCost counts what an API key costs a request on AWS, warm
// (the tenant's session, the price book and the generation items cached):
// the same GET and PUT of an item once with a key and once with claims (what a
// verified Cognito JWT costs: no DynamoDB call), and what a refused bearer
// costs. docs/cost.md prices the figures; a change that makes a key cost more
// fails here until the budget is raised with a reason.
func TestKeyedRequestCost(t *testing.T) {
	r := newCostRig(t)
	onboard := r.call(http.MethodPost, "/onboarding", map[string]string{
		"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!"}, nil, http.StatusCreated)
	r.project(onboard.events)
	var tenant string
	for _, e := range onboard.events {
		if e.typ == "tenant.onboarded" {
			tenant = e.tenant
		}
	}
	require.NotEmpty(t, tenant)
	claims := map[string]string{"token_use": "id", "sub": "u-admin", identity.ClaimTenantID: tenant, identity.ClaimGroups: "[tenant_admin]"}
	tp := "/tenants/" + tenant
	doc := map[string]any{"title": "quarterly report", "owner": "finance", "pages": 12, "tags": []string{"q3", "draft"}}

	// Keys are made by a platform admin: these claims name no user of the
	// tenant's roster, which admin commands check.
	admin := map[string]string{"token_use": "id", "sub": "ops-1", identity.ClaimGroups: "[platform_admin]"}
	create := func(name string) (id, key string) {
		out, err := r.api(t.Context(), awstest.APIRequest(t, http.MethodPost, tp+"/api-keys", "", map[string]any{"name": name, "scopes": []string{"data:read", "data:write"}}, admin))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, out.StatusCode, out.Body)
		var k struct{ KeyID, Key string }
		require.NoError(t, json.Unmarshal([]byte(out.Body), &struct {
			KeyID *string `json:"key_id"`
			Key   *string `json:"key"`
		}{&k.KeyID, &k.Key}))
		return k.KeyID, k.Key
	}
	_, key := create("ingest")

	// Warm up: the tenant's session, the price book, the generation items, the
	// usage stream, and the item's read-model value.
	r.project(r.call(http.MethodPut, tp+"/data/report-1", doc, claims, http.StatusOK).events)
	r.project(r.call(http.MethodPut, tp+"/data/report-1", doc, claims, http.StatusOK).events)
	r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK)

	report := func(name string, keyed, claimed awsBill, maxRequests int, maxRRU float64) verification {
		t.Helper()
		v := less(keyed, claimed)
		t.Logf("%s: with claims %d DynamoDB requests %.1f WRU %.1f RRU; with a key %d requests %.1f WRU %.1f RRU; the key's verification: %d requests, %.1f RRU, %.1f WRU: %q",
			name, claimed.requests, claimed.wru, claimed.rru, keyed.requests, keyed.wru, keyed.rru, v.requests, v.rru, v.wru, v.calls)
		assert.LessOrEqual(t, v.requests, maxRequests, "%s: verification requests over budget", name)
		assert.LessOrEqual(t, v.rru, maxRRU, "%s: verification read units over budget", name)
		assert.Zero(t, v.wru, "%s: verifying a key writes nothing", name)
		return v
	}

	// The key's first request on an instance reads its index entry and the
	// tenant's whole api-keys stream; later ones only the stream's new events.
	cold := report("GET item, the key's first use on the instance", r.callWith(http.MethodGet, tp+"/data/report-1", key, nil, nil, http.StatusOK),
		r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK), 2, 2)
	assert.Equal(t, 2, cold.requests, "cold: the index and the stream")
	get := report("GET item", r.callWith(http.MethodGet, tp+"/data/report-1", key, nil, nil, http.StatusOK),
		r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK), 1, 1)
	put := report("PUT item", r.callWith(http.MethodPut, tp+"/data/report-1", key, doc, nil, http.StatusOK),
		r.call(http.MethodPut, tp+"/data/report-1", doc, claims, http.StatusOK), 1, 1)
	for _, v := range []verification{get, put} {
		require.Len(t, v.calls, v.requests)
		assert.True(t, strings.HasPrefix(v.calls[len(v.calls)-1], "Query T#"+tenant+"#S#"+apikey.StreamID+" "), "the tenant's keys are read last: %q", v.calls)
	}

	// The api-keys stream grows with every key created and revoked; a warm
	// instance reads only what was appended since it last looked.
	for i := 0; i < 9; i++ {
		create("more")
	}
	report("GET item after 9 more keys were made elsewhere", r.callWith(http.MethodGet, tp+"/data/report-1", key, nil, nil, http.StatusOK),
		r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK), 1, 3)
	report("GET item, 10 keys on the stream, warm", r.callWith(http.MethodGet, tp+"/data/report-1", key, nil, nil, http.StatusOK),
		r.call(http.MethodGet, tp+"/data/report-1", nil, claims, http.StatusOK), 1, 1)

	// Refused bearers: none costs a write; only a well-formed key reads.
	unknown, err := apikey.New(rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, token string
		requests    int
	}{
		{"no token", "", 0},
		{"a key with a typo", typo(key), 0},
		{"a JWT the function cannot verify", "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.c2ln", 0},
		{"a well-formed key nobody issued", unknown.String(), 1},
	} {
		b := r.callWith(http.MethodGet, tp+"/data/report-1", tc.token, nil, nil, http.StatusUnauthorized)
		t.Logf("refused, %s: %d DynamoDB requests, %.1f RRU: %q", tc.name, b.requests, b.rru, b.calls)
		assert.Equal(t, tc.requests, b.requests, tc.name)
		assert.Zero(t, b.wru, tc.name)
	}
}
