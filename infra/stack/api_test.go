package stack_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/infra/stack"
)

// public reports whether a path is served without authentication by the handler.
func public(path string) bool {
	// Not all of /auth/: a password change needs the caller's token.
	for _, p := range []string{"/onboarding", "/auth/login", "/auth/refresh", "/auth/logout", "/auth/password-reset", "/auth/password-reset/confirm", "/invitations/accept", "/.well-known/", "/healthz", "/readyz", "/openapi.json"} {
		if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
}

// No route has a gateway authorizer (docs/aws.md, "API keys on AWS"): a JWT
// authorizer refuses every API key before the function runs, and a Lambda
// authorizer's cache would let a revoked key through. The api function
// verifies bearers itself, so it must know the pool (issuer, client, JWKS).
func TestAPIRoutesHaveNoGatewayAuthorizer(t *testing.T) {
	want, err := stack.APIRoutes(httpapi.Routes())
	require.NoError(t, err)
	assert.Empty(t, shared.ofType("AWS::ApiGatewayV2::Authorizer"), "no gateway authorizer")

	routes := map[string]resource{}
	for _, r := range shared.ofType("AWS::ApiGatewayV2::Route") {
		routes[r.Properties["RouteKey"].(string)] = r
	}
	require.Len(t, routes, len(want), "one API Gateway route per handler route")
	var authenticated int
	for _, w := range want {
		key := w.Method + " " + w.Path
		t.Run(key, func(t *testing.T) {
			r, ok := routes[key]
			require.True(t, ok, "route %s missing", key)
			assert.Equal(t, !public(w.Path), w.Authenticated, "%s: the handler authenticates exactly the non-public routes", key)
			assert.Contains(t, []any{nil, "NONE"}, r.Properties["AuthorizationType"], "%s has no gateway authorizer", key)
			assert.Nil(t, r.Properties["AuthorizerId"])
			if w.Authenticated {
				authenticated++
			}
		})
	}
	assert.Positive(t, authenticated)

	// What the function needs to verify Cognito tokens itself.
	api := shared.resources[shared.logicalID(t, "AWS::Lambda::Function", "Api")].Properties
	env := api["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, map[string]any{"Ref": shared.logicalID(t, "AWS::Cognito::UserPool", "UserPool")}, env[stack.EnvUserPoolID])
	assert.Equal(t, map[string]any{"Ref": shared.logicalID(t, "AWS::Cognito::UserPoolClient", "UserPoolApiClient")}, env[stack.EnvClientID])
	assert.NotContains(t, env, "COGNITO_JWKS_URL", "the function fetches the keys from the pool's issuer")
}

// TestNotOnAWSRoutesExist keeps the exclusion list honest: each entry is a route
// the handler really registers, so none hides a renamed route.
func TestNotOnAWSRoutesExist(t *testing.T) {
	var patterns []string
	for _, r := range httpapi.Routes() {
		patterns = append(patterns, r.Pattern)
		assert.False(t, r.Authed && slices.Contains(stack.NotOnAWS, r.Pattern), "an authenticated route must not be dropped: %s", r.Pattern)
	}
	for _, p := range stack.NotOnAWS {
		assert.Contains(t, patterns, p)
	}
}

func TestAPIRoutesRejectsMalformedPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		ok      bool
	}{
		{"GET /tenants/{tenant_id}", true},
		{"/no-method", false},
		{"GET relative", false},
	}
	for _, tt := range tests {
		_, err := stack.APIRoutes([]httpapi.Route{{Pattern: tt.pattern}})
		assert.Equal(t, tt.ok, err == nil, "%s: %v", tt.pattern, err)
	}
}

func TestAPIStage(t *testing.T) {
	stages := shared.ofType("AWS::ApiGatewayV2::Stage")
	require.Len(t, stages, 1)
	for _, s := range stages {
		settings := s.Properties["DefaultRouteSettings"].(map[string]any)
		assert.Equal(t, float64(100), settings["ThrottlingRateLimit"])
		assert.Equal(t, float64(200), settings["ThrottlingBurstLimit"])
		logs := s.Properties["AccessLogSettings"].(map[string]any)
		assert.Equal(t, "AWS::Logs::LogGroup", shared.resources[refID(logs["DestinationArn"])].Type)
		assert.Contains(t, logs["Format"], "$context.requestId")
	}
	integrations := shared.ofType("AWS::ApiGatewayV2::Integration")
	require.Len(t, integrations, 1, "one integration: the api function")
	for _, i := range integrations {
		assert.Equal(t, shared.logicalID(t, "AWS::Lambda::Function", "Api"), refID(i.Properties["IntegrationUri"]))
		assert.Equal(t, "2.0", i.Properties["PayloadFormatVersion"])
	}
}

// The HTTP API answers CORS only when corsOrigins names origins, and then with
// what the local server's --cors-origin allows, never with credentials.
func TestAPICORS(t *testing.T) {
	for _, api := range shared.ofType("AWS::ApiGatewayV2::Api") {
		assert.Nil(t, api.Properties["CorsConfiguration"], "no corsOrigins: no CORS")
	}
	apis := variant(t).ofType("AWS::ApiGatewayV2::Api")
	require.Len(t, apis, 1)
	for _, api := range apis {
		cors, ok := api.Properties["CorsConfiguration"].(map[string]any)
		require.True(t, ok, "corsOrigins sets the CORS configuration: %v", api.Properties)
		assert.Equal(t, map[string]any{
			"AllowOrigins":     []any{"https://app.example.com", "http://localhost:5173"},
			"AllowMethods":     []any{"GET", "PUT", "POST", "PATCH", "DELETE"},
			"AllowHeaders":     []any{"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match"},
			"ExposeHeaders":    []any{"ETag", "Location", "Retry-After", "X-Request-Id", "Allow", "WWW-Authenticate", "RateLimit", "RateLimit-Policy"},
			"MaxAge":           float64(600),
			"AllowCredentials": false,
		}, cors)
	}
	// API Gateway answers preflights itself: no OPTIONS route reaches the
	// function.
	for _, r := range variant(t).ofType("AWS::ApiGatewayV2::Route") {
		assert.NotContains(t, r.Properties["RouteKey"], "OPTIONS")
	}
}

// stringify flattens a CloudFormation value (Fn::Join and all) into its literal parts.
func stringify(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var b strings.Builder
		for _, e := range x {
			b.WriteString(stringify(e))
		}
		return b.String()
	case map[string]any:
		var b strings.Builder
		for k, e := range x {
			b.WriteString(k + ":" + stringify(e) + ";")
		}
		return b.String()
	}
	return ""
}
