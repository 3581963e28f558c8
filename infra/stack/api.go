package stack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

// NotOnAWS are the routes of handlers/httpapi that API Gateway does not expose:
// Prometheus metrics are replaced by EMF, and the test clock is local-only.
var NotOnAWS = []string{"GET /metrics", "POST /test-clock"}

// APIRoute is one route as API Gateway gets it.
type APIRoute struct {
	Method, Path string
	// Authenticated says the handler requires a bearer token, which the api
	// function verifies itself: no route has a gateway authorizer (docs/aws.md,
	// "API keys on AWS").
	Authenticated bool
}

// APIRoutes turns the handler's route list into API Gateway routes.
func APIRoutes(routes []httpapi.Route) ([]APIRoute, error) {
	var out []APIRoute
	for _, r := range routes {
		if slices.Contains(NotOnAWS, r.Pattern) {
			continue
		}
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("route %q: want \"METHOD /path\"", r.Pattern)
		}
		out = append(out, APIRoute{Method: method, Path: path, Authenticated: r.Authed})
	}
	return out, nil
}

// corsPreflight is the HTTP API's CORS configuration for origins (nil without
// any: no CORS). API Gateway then answers preflights itself, before the
// function, and adds the headers to the function's answers; it allows what
// the local server's --cors-origin allows (httpapi.CORSMethods and the rest).
// No credentials: the API takes bearer tokens, never cookies.
func corsPreflight(origins []string) *awsapigatewayv2.CorsPreflightOptions {
	if len(origins) == 0 {
		return nil
	}
	methods := make([]awsapigatewayv2.CorsHttpMethod, 0, len(httpapi.CORSMethods))
	for _, m := range httpapi.CORSMethods {
		methods = append(methods, awsapigatewayv2.CorsHttpMethod(m))
	}
	return &awsapigatewayv2.CorsPreflightOptions{
		AllowOrigins:     jsii.Strings(origins...),
		AllowMethods:     &methods,
		AllowHeaders:     jsii.Strings(httpapi.CORSRequestHeaders...),
		ExposeHeaders:    jsii.Strings(httpapi.CORSExposedHeaders...),
		MaxAge:           awscdk.Duration_Seconds(jsii.Number(httpapi.CORSMaxAge.Seconds())),
		AllowCredentials: jsii.Bool(false),
	}
}

// api creates the HTTP API in front of the api function. No route has a
// gateway authorizer: API Gateway's JWT authorizer refuses every bearer that is
// not a Cognito JWT, so API keys could never reach the function, and a Lambda
// authorizer would have to run, uncached, on every request for a revocation to
// take effect at once (docs/ARCHITECTURE.md, decision 16; docs/aws.md, "API keys
// on AWS"). The function verifies Cognito JWTs with the pool's JWKS and API keys
// against the tables, on the local server's path.
func (b *builder) api(routes []httpapi.Route) error {
	apiRoutes, err := APIRoutes(routes)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	api := awsapigatewayv2.NewHttpApi(b.stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:       jsii.String(b.cfg.Prefix),
		Description:   jsii.String("tenantstream HTTP API"),
		CorsPreflight: corsPreflight(b.cfg.CORSOrigins),
	})
	b.res.httpAPI = api
	// One invoke permission for the whole API rather than one per route, which
	// would grow the function's resource policy with every route.
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), b.res.fns[FnAPI],
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{ScopePermissionToRoute: jsii.Bool(false)})
	for _, r := range apiRoutes {
		added := api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integration,
		})
		reason := "A public route by design (onboarding, login, token refresh and logout, invitation accept and password reset with their one-time tokens, discovery documents, health, the API description): the handler authenticates nothing here."
		if r.Authenticated {
			reason = "Authenticated by the api function, not the gateway: it verifies Cognito JWTs (the pool's JWKS) and API keys (against the tables, so a revocation holds at once); a JWT authorizer would refuse every API key (docs/aws.md, API keys on AWS)."
		}
		for _, route := range *added {
			suppress(route, "AwsSolutions-APIG4", reason)
		}
	}

	// Throttling and access logs on the default stage, set on the L1 stage because
	// the L2 HTTP stage takes an interface Go cannot construct.
	logs := awslogs.NewLogGroup(b.stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     retentionDays(b.cfg.LogRetentionDays),
		RemovalPolicy: b.removalPolicy(),
	})
	stage := api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit:  jsii.Number(b.cfg.APIRateLimit),
		ThrottlingBurstLimit: jsii.Number(b.cfg.APIBurstLimit),
	})
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format: jsii.String(`{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime",` +
			`"method":"$context.httpMethod","routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol",` +
			`"responseLength":"$context.responseLength","latency":"$context.responseLatency","integrationError":"$context.integrationErrorMessage"}`),
	})
	out(b.stack, "ApiUrl", api.ApiEndpoint())
	return nil
}
