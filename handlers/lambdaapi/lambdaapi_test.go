package lambdaapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/lambdaapi"
	"github.com/tenantstream/tenantstream/projections"
)

func event(method, rawPath, query string, headers map[string]string, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: rawPath, RawQueryString: query, Headers: headers, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage: "$default", DomainName: "api.example.test",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: rawPath, Protocol: "HTTP/1.1", SourceIP: "198.51.100.7"},
		},
	}
}

func TestRequestCarriesPathQueryHeadersCookiesAndBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ev       events.APIGatewayV2HTTPRequest
		wantPath string
		wantRaw  string
		wantBody string
	}{
		{"plain", event("GET", "/tenants/t1/data", "limit=5&after=x%20y", nil, ""), "/tenants/t1/data", "limit=5&after=x%20y", ""},
		{"escaped path", event("GET", "/tenants/t1/data/a%2Fb", "", nil, ""), "/tenants/t1/data/a/b", "", ""},
		{"base64 body", func() events.APIGatewayV2HTTPRequest {
			e := event("PUT", "/x", "", nil, base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 'z'}))
			e.IsBase64Encoded = true
			return e
		}(), "/x", "", "\x00\x01\x02z"},
		{"named stage is stripped", func() events.APIGatewayV2HTTPRequest {
			e := event("GET", "/prod/healthz", "", nil, "")
			e.RequestContext.Stage = "prod"
			return e
		}(), "/healthz", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.ev.Headers = map[string]string{"content-type": "application/json", "x-forwarded-for": "198.51.100.7, 10.0.0.1"}
			tc.ev.Cookies = []string{"a=1", "b=2"}
			r, err := lambdaapi.Request(context.Background(), tc.ev)
			require.NoError(t, err)
			assert.Equal(t, tc.ev.RequestContext.HTTP.Method, r.Method)
			assert.Equal(t, tc.wantPath, r.URL.Path)
			assert.Equal(t, tc.wantRaw, r.URL.RawQuery)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Equal(t, "198.51.100.7, 10.0.0.1", r.Header.Get("X-Forwarded-For"))
			c, err := r.Cookie("b")
			require.NoError(t, err)
			assert.Equal(t, "2", c.Value)
			assert.Equal(t, "api.example.test", r.Host)
			assert.Equal(t, "198.51.100.7:0", r.RemoteAddr)
			b, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.wantBody, string(b))
			assert.Equal(t, int64(len(tc.wantBody)), r.ContentLength)
		})
	}
	bad := event("POST", "/x", "", nil, "%%%")
	bad.IsBase64Encoded = true
	_, err := lambdaapi.Request(context.Background(), bad)
	assert.Error(t, err)
}

func TestResponseBodiesHeadersAndCookies(t *testing.T) {
	t.Parallel()
	h := http.NewServeMux()
	h.HandleFunc("/png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "t", Value: "2"})
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Accept")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte{0x89, 'P', 'N', 'G'})
	})
	h.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		_, _ = w.Write([]byte(`{"a":1}`))
	})
	a := lambdaapi.Adapter{Handler: h}
	png, err := a.Handle(context.Background(), event("GET", "/png", "", nil, ""))
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, png.StatusCode)
	assert.True(t, png.IsBase64Encoded)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{0x89, 'P', 'N', 'G'}), png.Body)
	assert.Equal(t, []string{"s=1", "t=2"}, png.Cookies)
	assert.Equal(t, "Origin,Accept", png.Headers["Vary"])
	js, err := a.Handle(context.Background(), event("GET", "/json", "", nil, ""))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, js.StatusCode)
	assert.False(t, js.IsBase64Encoded)
	assert.JSONEq(t, `{"a":1}`, js.Body)
}

// The real API through the adapter: public routes, onboarding, and tenant routes
// authenticated by the JWT authorizer's claims only.
func TestTheSameAPIBehindAPIGateway(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend()})
	require.NoError(t, err)
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clock.System{}, Plans: commands.Catalog{Catalog: catalog.Default()}, Passwords: hasher}
	api := &httpapi.API{Service: svc, Authenticate: lambdaapi.Authenticate(nil), PasswordPolicy: identity.ValidatePassword, OpenAPI: httpapi.OpenAPI}
	a := lambdaapi.Adapter{Handler: api.Handler()}
	ctx := context.Background()

	res, err := a.Handle(ctx, event("GET", "/healthz", "", nil, ""))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, res.Body)

	body := base64.StdEncoding.EncodeToString([]byte(`{"tenant_name":"Acme","email":"admin@acme.test","password":"Sup3r-secret!"}`))
	ev := event("POST", "/onboarding", "", map[string]string{"content-type": "application/json"}, body)
	ev.IsBase64Encoded = true
	res, err = a.Handle(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, res.StatusCode, res.Body)
	var out commands.Onboarded
	require.NoError(t, json.Unmarshal([]byte(res.Body), &out))

	claims := func(tenant string) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
		return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: map[string]string{"sub": out.AdminUserID, "token_use": "id", "custom:tenant_id": tenant, "cognito:groups": "[tenant_admin]", "email": "admin@acme.test"},
		}}
	}
	tests := []struct {
		name   string
		auth   *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
		header map[string]string
		status int
	}{
		{"authorizer claims of the tenant", claims(out.TenantID), nil, http.StatusOK},
		{"claims of another tenant", claims("0196f2b4-1c2d-7000-8000-00000000abcd"), nil, http.StatusForbidden},
		{"claims without a tenant", claims(""), nil, http.StatusUnauthorized},
		{"no authorizer and no verifier", nil, map[string]string{"authorization": "Bearer x.y.z"}, http.StatusUnauthorized},
		{"nothing at all", nil, nil, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := event("GET", "/tenants/"+out.TenantID, "", tc.header, "")
			ev.RequestContext.Authorizer = tc.auth
			res, err := a.Handle(ctx, ev)
			require.NoError(t, err)
			assert.Equal(t, tc.status, res.StatusCode, res.Body)
			if tc.status == http.StatusOK {
				assert.Contains(t, res.Body, `"Acme"`)
			} else {
				assert.Equal(t, "application/problem+json", res.Headers["Content-Type"])
			}
		})
	}
}
