package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

// The api function as deployed with Cognito (on moto; RevokeToken played by
// awstest.TokenRevocation, which moto lacks): a role change, a logout, a
// password change and a removal over HTTP each reach the pool, and each ends
// the refresh tokens it should.
func TestAPIUsersAndSessionsFollowTheRosterInCognito(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	cfg := moto.Config()
	pool, err := cognito.CreatePool(ctx, cip.NewFromConfig(cfg), fmt.Sprint("sessions-", time.Now().UnixNano()))
	require.NoError(t, err)
	calls := &awstest.TokenRevocation{}
	require.NoError(t, calls.LearnClient(ctx, cip.NewFromConfig(cfg), pool.UserPoolID, pool.ClientID))
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	env := Env{Store: StoreMemory, Region: awstest.Region, EndpointURL: moto.Endpoint,
		UserPoolID: pool.UserPoolID, ClientID: pool.ClientID, JWKSURL: cognito.JWKSURL(moto.Endpoint, pool.UserPoolID)}
	h, _, err := newAPI(ctx, env, forTest(io.Discard, func(o *Options) {
		o.CognitoOptions = append(o.CognitoOptions, func(co *cip.Options) { co.APIOptions = append(co.APIOptions, calls.Middleware()) })
	}))
	require.NoError(t, err)
	call := func(method, path, token string, body any) (int, map[string]any) {
		t.Helper()
		out, err := h(ctx, awstest.APIRequest(t, method, path, token, body, nil))
		require.NoError(t, err)
		var m map[string]any
		if out.Body != "" {
			require.NoError(t, json.Unmarshal([]byte(out.Body), &m), out.Body)
		}
		return out.StatusCode, m
	}
	login := func(email, password string) (int, map[string]any) {
		return call(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": "acme", "email": email, "password": password})
	}
	refresh := func(token any) int {
		status, _ := call(http.MethodPost, "/auth/refresh", "", map[string]any{"refresh_token": token})
		return status
	}

	status, body := call(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!"})
	require.Equal(t, http.StatusCreated, status, body)
	users := "/tenants/" + body["tenant_id"].(string) + "/users"
	status, body = login("admin@acme.test", "Sup3r-secret!")
	require.Equal(t, http.StatusOK, status, body)
	admin := body["id_token"].(string)
	status, body = call(http.MethodPost, users, admin, map[string]string{"email": "bob@acme.test", "password": "B0b-secret-pass"})
	require.Equal(t, http.StatusCreated, status, body)
	bob := users + "/" + body["user_id"].(string)
	_, before := login("bob@acme.test", "B0b-secret-pass")

	// A role change: groups in Cognito, and bob's refresh token ends.
	status, body = call(http.MethodPatch, bob, admin, map[string]any{"roles": []string{"tenant_admin"}})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, 1, calls.Count("AdminUserGlobalSignOut"))
	assert.Equal(t, http.StatusUnauthorized, refresh(before["refresh_token"]))

	// Logout revokes in Cognito.
	_, session := login("bob@acme.test", "B0b-secret-pass")
	status, _ = call(http.MethodPost, "/auth/logout", "", map[string]any{"refresh_token": session["refresh_token"]})
	require.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, 1, calls.Count("RevokeToken"))
	assert.Equal(t, http.StatusUnauthorized, refresh(session["refresh_token"]))

	// A password change with bob's ID token.
	_, session = login("bob@acme.test", "B0b-secret-pass")
	status, body = call(http.MethodPost, "/auth/password", session["id_token"].(string), map[string]string{"current_password": "B0b-secret-pass", "new_password": "N3w-bob-password"})
	require.Equal(t, http.StatusOK, status, body)
	assert.NotEmpty(t, body["id_token"])
	assert.Equal(t, 3, calls.Count("AdminSetUserPassword"), "onboarding, AddUser and the change")
	status, _ = login("bob@acme.test", "B0b-secret-pass")
	assert.Equal(t, http.StatusUnauthorized, status, "the old password")
	assert.Equal(t, http.StatusUnauthorized, refresh(session["refresh_token"]))
	status, _ = login("bob@acme.test", "N3w-bob-password")
	require.Equal(t, http.StatusOK, status)

	// A removal deletes the Cognito user.
	status, _ = call(http.MethodDelete, bob, admin, nil)
	require.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, 1, calls.Count("AdminDeleteUser"))
	status, _ = login("bob@acme.test", "N3w-bob-password")
	assert.Equal(t, http.StatusUnauthorized, status)
}
