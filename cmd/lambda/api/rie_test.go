package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/cmd/lambda/internal/rie"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// The api binary behind the emulator, with Cognito on moto: onboarding creates the
// Cognito user, login returns its tokens, and a tenant route accepts the ID token
// (verified with moto's JWKS) or a JWT authorizer's claims. With no gateway
// authorizer (docs/aws.md, "API keys on AWS") API keys reach the binary too: a
// key works within its scope, not outside it, and not once revoked.
func TestAPIThroughRuntimeInterfaceEmulator(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	pool, err := cognito.CreatePool(ctx, cip.NewFromConfig(moto.Config()), "tenantstream-rie")
	require.NoError(t, err)
	fn := rie.Start(t, "api", rie.Emulator(t), rie.Build(t, "."), "TENANTSTREAM_STORE=memory", "AWS_REGION="+awstest.Region,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_ENDPOINT_URL="+moto.Endpoint,
		"COGNITO_USER_POOL_ID="+pool.UserPoolID, "COGNITO_CLIENT_ID="+pool.ClientID,
		"COGNITO_JWKS_URL="+cognito.JWKSURL(moto.Endpoint, pool.UserPoolID))

	invoke := func(method, path string, headers map[string]string, body string, claims map[string]string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path, Headers: headers, Body: body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{Stage: "$default",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "198.51.100.7"}}}
		if claims != nil {
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
		}
		var out events.APIGatewayV2HTTPResponse
		fn.Invoke(t, ev, &out)
		return out
	}
	jsonHdr := map[string]string{"content-type": "application/json"}

	res := invoke("GET", "/healthz", nil, "", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
	assert.JSONEq(t, `{"status":"ok"}`, res.Body)

	res = invoke("POST", "/onboarding", jsonHdr, `{"tenant_name":"Acme","email":"admin@acme.test","password":"Sup3r-secret!"}`, nil)
	require.Equal(t, http.StatusCreated, res.StatusCode, res.Body)
	var onboarded struct {
		TenantID string `json:"tenant_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Body), &onboarded))

	res = invoke("POST", "/auth/login", jsonHdr, `{"tenant_name":"Acme","email":"admin@acme.test","password":"Sup3r-secret!"}`, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, res.Body)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Body), &tok))

	res = invoke("GET", "/tenants/"+onboarded.TenantID, map[string]string{"authorization": "Bearer " + tok.IDToken}, "", nil)
	assert.Equal(t, http.StatusOK, res.StatusCode, res.Body)
	assert.Contains(t, res.Body, `"Acme"`)

	claims := map[string]string{"sub": "u1", "token_use": "id", "custom:tenant_id": onboarded.TenantID, "cognito:groups": "[tenant_admin]"}
	res = invoke("GET", "/tenants/"+onboarded.TenantID, nil, "", claims)
	assert.Equal(t, http.StatusOK, res.StatusCode, res.Body)

	res = invoke("GET", "/tenants/"+onboarded.TenantID, map[string]string{"authorization": "Bearer " + tok.IDToken + "x"}, "", nil)
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, res.Body)
	assert.Equal(t, "application/problem+json", res.Headers["Content-Type"], fmt.Sprint(res.Headers))
	assert.Contains(t, res.Headers["Www-Authenticate"], `error="invalid_token"`, fmt.Sprint(res.Headers))

	// An API key, made with the ID token.
	bearer := func(token string) map[string]string {
		return map[string]string{"authorization": "Bearer " + token, "content-type": "application/json"}
	}
	tp := "/tenants/" + onboarded.TenantID
	res = invoke("POST", tp+"/api-keys", bearer(tok.IDToken), `{"name":"rie","scopes":["data:read"]}`, nil)
	require.Equal(t, http.StatusCreated, res.StatusCode, res.Body)
	var key struct {
		KeyID string `json:"key_id"`
		Key   string `json:"key"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Body), &key))
	res = invoke("GET", tp+"/data", bearer(key.Key), "", nil)
	assert.Equal(t, http.StatusOK, res.StatusCode, res.Body)
	res = invoke("PUT", tp+"/data/x", bearer(key.Key), `{"v":1}`, nil)
	assert.Equal(t, http.StatusForbidden, res.StatusCode, res.Body)
	res = invoke("DELETE", tp+"/api-keys/"+key.KeyID, bearer(tok.IDToken), "", nil)
	require.Equal(t, http.StatusNoContent, res.StatusCode, res.Body)
	res = invoke("GET", tp+"/data", bearer(key.Key), "", nil)
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "revoked: %s", res.Body)
	assert.Contains(t, fn.Logs(), `"route":"/tenants/{tenant_id}/data"`, "the function's access log is read")
	assert.NotContains(t, fn.Logs(), key.Key, "the key is in no line the function wrote")
}
