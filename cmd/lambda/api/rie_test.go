package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// rieModule is the Runtime Interface Emulator the test installs.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// rieBinary returns the emulator, installing it into the user cache with go install.
func rieBinary(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	dir := filepath.Join(cache, "tenantstream", "aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d")
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", rieModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Lambda Runtime Interface Emulator is required and could not be installed (go install %s): %v\n%s", rieModule, err, out)
	}
	return bin
}

// buildBootstrap builds this function as Lambda runs it (static, no RPC shim).
func buildBootstrap(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "build bootstrap: %s", b)
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The api binary behind the emulator, with Cognito on moto: onboarding creates the
// Cognito user, login returns its tokens, and a tenant route accepts the ID token
// (verified with moto's JWKS) or the JWT authorizer's claims.
func TestAPIThroughRuntimeInterfaceEmulator(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	pool, err := cognito.CreatePool(ctx, cip.NewFromConfig(moto.Config()), "tenantstream-rie")
	require.NoError(t, err)
	rie, boot := rieBinary(t), buildBootstrap(t)

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, boot)
	cmd.Env = append(os.Environ(), "TENANTSTREAM_STORE=memory", "AWS_REGION="+awstest.Region,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_ENDPOINT_URL="+moto.Endpoint,
		"COGNITO_USER_POOL_ID="+pool.UserPoolID, "COGNITO_CLIENT_ID="+pool.ClientID,
		"COGNITO_JWKS_URL="+cognito.JWKSURL(moto.Endpoint, pool.UserPoolID))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", logs.String())
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "the emulator did not listen on %s", addr)

	invoke := func(method, path string, headers map[string]string, body string, claims map[string]string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path, Headers: headers, Body: body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{Stage: "$default",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "198.51.100.7"}}}
		if claims != nil {
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
		}
		payload, err := json.Marshal(ev)
		require.NoError(t, err)
		resp, err := http.Post("http://"+addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(payload))
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "invoke: %s", raw)
		var out events.APIGatewayV2HTTPResponse
		require.NoError(t, json.Unmarshal(raw, &out), "response: %s", raw)
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
}
