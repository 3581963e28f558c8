package pretoken_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/pretoken"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const tenant = "0196f2b4-0000-7000-8000-000000000001"

func fixture(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "v2-authentication.json"))
	require.NoError(t, err)
	return raw
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}

// The documented V2 event (the Cognito developer guide's request shape, with
// this platform's attributes) gets exactly the tenant and the email added to the
// access token, and nothing else: no group override (the groups stay), no ID
// token change, and the clientMetadata's tenant, which the caller of
// InitiateAuth chooses, is ignored.
func TestDocumentedV2Event(t *testing.T) {
	t.Parallel()
	out, err := pretoken.Handler{}.Invoke(context.Background(), fixture(t))
	require.NoError(t, err)
	var pretty map[string]any
	require.NoError(t, json.Unmarshal(out, &pretty))
	indented, err := json.MarshalIndent(pretty, "", "  ")
	require.NoError(t, err)
	golden(t, "v2-authentication.response.golden.json", append(indented, '\n'))

	var resp struct {
		Response map[string]map[string]json.RawMessage `json:"response"`
	}
	require.NoError(t, json.Unmarshal(out, &resp))
	details := resp.Response["claimsAndScopeOverrideDetails"]
	assert.Len(t, details, 1, "only accessTokenGeneration: %s", out)
	assert.JSONEq(t, `{"claimsToAddOrOverride":{"custom:tenant_id":"`+tenant+`","email":"admin@acme.test"}}`, string(details["accessTokenGeneration"]))
	assert.NotContains(t, string(out), "groupOverrideDetails")
	assert.NotContains(t, string(out), "idTokenGeneration")
	assert.NotContains(t, string(details["accessTokenGeneration"]), "beef", "clientMetadata never names the tenant")

	// aws-lambda-go reads our answer as Cognito's V2_0 response.
	var lib events.CognitoEventUserPoolsPreTokenGenV2_0
	require.NoError(t, json.Unmarshal(out, &lib))
	assert.Equal(t, map[string]any{"custom:tenant_id": tenant, "email": "admin@acme.test"}, lib.Response.ClaimsAndScopeOverrideDetails.AccessTokenGeneration.ClaimsToAddOrOverride)
	assert.Nil(t, lib.Response.ClaimsAndScopeOverrideDetails.GroupOverrideDetails.GroupsToOverride)
	assert.Equal(t, []string{"tenant_admin"}, lib.Request.GroupConfiguration.GroupsToOverride, "the request comes back as it came")
}

// event is the fixture with edit applied to its decoded form.
func event(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(fixture(t), &m))
	edit(m)
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return raw
}

func attrs(m map[string]any) map[string]any {
	return m["request"].(map[string]any)["userAttributes"].(map[string]any)
}

func TestClaimsPerEvent(t *testing.T) {
	t.Parallel()
	both := map[string]string{"custom:tenant_id": tenant, "email": "admin@acme.test"}
	cases := []struct {
		name string
		edit func(m map[string]any)
		want map[string]string // nil: the response changes nothing
	}{
		{"authentication", func(map[string]any) {}, both},
		{"refresh", func(m map[string]any) { m["triggerSource"] = "TokenGeneration_RefreshTokens" }, both},
		{"hosted UI", func(m map[string]any) { m["triggerSource"] = "TokenGeneration_HostedAuth" }, both},
		{"new password challenge", func(m map[string]any) { m["triggerSource"] = "TokenGeneration_NewPasswordChallenge" }, both},
		{"device", func(m map[string]any) { m["triggerSource"] = "TokenGeneration_AuthenticateDevice" }, both},
		{"V3 event of a user", func(m map[string]any) { m["version"] = "3" }, both},
		{"client credentials (no user)", func(m map[string]any) {
			m["version"] = "3"
			m["triggerSource"] = "TokenGeneration_ClientCredentials"
		}, nil},
		{"unknown trigger source", func(m map[string]any) { m["triggerSource"] = "TokenGeneration_Something" }, nil},
		{"no tenant attribute", func(m map[string]any) { delete(attrs(m), "custom:tenant_id") },
			map[string]string{"email": "admin@acme.test"}},
		{"no tenant and no email", func(m map[string]any) {
			delete(attrs(m), "custom:tenant_id")
			delete(attrs(m), "email")
		}, nil},
		{"empty tenant", func(m map[string]any) { attrs(m)["custom:tenant_id"] = "" }, map[string]string{"email": "admin@acme.test"}},
		{"platform tenant", func(m map[string]any) { attrs(m)["custom:tenant_id"] = "_platform" }, map[string]string{"email": "admin@acme.test"}},
		{"tenant with a key separator", func(m map[string]any) { attrs(m)["custom:tenant_id"] = "acme#S#x" }, map[string]string{"email": "admin@acme.test"}},
		{"tenant too long", func(m map[string]any) { attrs(m)["custom:tenant_id"] = strings.Repeat("a", 200) }, map[string]string{"email": "admin@acme.test"}},
		{"unverified email", func(m map[string]any) { attrs(m)["email_verified"] = "false" }, map[string]string{"custom:tenant_id": tenant}},
		{"no user attributes", func(m map[string]any) { delete(m["request"].(map[string]any), "userAttributes") }, nil},
		{"tenant only in clientMetadata", func(m map[string]any) { delete(attrs(m), "custom:tenant_id") },
			map[string]string{"email": "admin@acme.test"}},
		{"a previous response is replaced", func(m map[string]any) {
			m["response"] = map[string]any{"claimsAndScopeOverrideDetails": map[string]any{"groupOverrideDetails": map[string]any{"groupsToOverride": []string{"platform_admin"}}}}
		}, both},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := pretoken.Handler{}.Invoke(context.Background(), event(t, tc.edit))
			require.NoError(t, err)
			var got pretoken.Event
			require.NoError(t, json.Unmarshal(out, &got))
			if tc.want == nil {
				assert.Nil(t, got.Response.ClaimsAndScopeOverrideDetails, "%s", out)
				return
			}
			require.NotNil(t, got.Response.ClaimsAndScopeOverrideDetails, "%s", out)
			assert.Equal(t, tc.want, got.Response.ClaimsAndScopeOverrideDetails.AccessTokenGeneration.ClaimsToAddOrOverride)
			assert.NotContains(t, string(out), "groupOverrideDetails")
			assert.NotContains(t, string(out), "platform_admin")
		})
	}
}

func TestRefusedEvents(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		payload []byte
		cause   error
	}{
		{"V1_0 event", event(t, func(m map[string]any) { m["version"] = "1" }), pretoken.ErrVersion},
		{"no version", event(t, func(m map[string]any) { delete(m, "version") }), pretoken.ErrVersion},
		{"no trigger source", event(t, func(m map[string]any) { delete(m, "triggerSource") }), pretoken.ErrMalformed},
		{"not JSON", []byte("{"), pretoken.ErrMalformed},
		{"empty", nil, pretoken.ErrMalformed},
		{"array", []byte("[]"), pretoken.ErrMalformed},
		{"attribute not a string", event(t, func(m map[string]any) { attrs(m)["custom:tenant_id"] = 7 }), pretoken.ErrMalformed},
		{"two events", append(fixture(t), fixture(t)...), pretoken.ErrMalformed},
		{"huge", append(fixture(t)[:len(fixture(t))-2], []byte(`,"pad":"`+strings.Repeat("x", pretoken.MaxEventBytes)+`"}`)...), pretoken.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := pretoken.Handler{}.Invoke(context.Background(), tc.payload)
			assert.ErrorIs(t, err, tc.cause)
			assert.Nil(t, out)
		})
	}
}

// FuzzDecode: whatever Cognito (or anyone able to invoke the function) sends,
// the answer is an error or the event with at most the user's own valid tenant
// and verified email added to the access token, never a group or ID-token
// override and never a claim taken from anywhere else.
func FuzzDecode(f *testing.F) {
	f.Add(fixture(f))
	f.Add([]byte(`{"version":"1","triggerSource":"TokenGeneration_Authentication","request":{"userAttributes":{"custom:tenant_id":"t"}}}`))
	f.Add([]byte(`{"version":"2","triggerSource":"TokenGeneration_RefreshTokens","request":{"userAttributes":{"custom:tenant_id":"_platform","email":"a@b","email_verified":"true"}}}`))
	f.Add([]byte(`{"version":"3","triggerSource":"TokenGeneration_ClientCredentials","request":{"clientMetadata":{"custom:tenant_id":"t"}}}`))
	f.Add([]byte(`{"version":"2","triggerSource":"x","request":{"userAttributes":null},"response":{"claimsAndScopeOverrideDetails":{"groupOverrideDetails":{}}}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":"2","triggerSource":"TokenGeneration_Authentication"}{}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := pretoken.Handler{}.Invoke(context.Background(), payload)
		if err != nil {
			require.Nil(t, out)
			return
		}
		in, err := pretoken.Decode(payload)
		require.NoError(t, err, "Invoke accepted what Decode refuses")
		var raw map[string]any
		require.NoError(t, json.Unmarshal(out, &raw), "the answer is JSON")
		var got pretoken.Event
		require.NoError(t, json.Unmarshal(out, &got))
		require.NotContains(t, string(out), "groupOverrideDetails")
		require.NotContains(t, string(out), "idTokenGeneration")
		d := got.Response.ClaimsAndScopeOverrideDetails
		if d == nil {
			return
		}
		require.NotNil(t, d.AccessTokenGeneration)
		claims := d.AccessTokenGeneration.ClaimsToAddOrOverride
		require.NotEmpty(t, claims)
		for k, v := range claims {
			require.Contains(t, []string{"custom:tenant_id", "email"}, k)
			require.Equal(t, in.Request.UserAttributes[k], v, "claim %s comes from the user's attribute", k)
		}
		if tid, ok := claims["custom:tenant_id"]; ok {
			require.False(t, strings.HasPrefix(tid, "_"))
			require.LessOrEqual(t, len(tid), 64)
		}
		if _, ok := claims["email"]; ok {
			require.Equal(t, "true", in.Request.UserAttributes["email_verified"])
		}
	})
}
