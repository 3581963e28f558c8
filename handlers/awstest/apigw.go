package awstest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

var requestIDs atomic.Int64

// APIRequest is the event API Gateway's HTTP API (payload 2.0, default stage)
// hands the api function for a JSON request: path may carry a query string,
// body (nil for none) is sent as JSON, token (when set) as a bearer token, and
// claims (when set) are the JWT authorizer's, as API Gateway passes them.
func APIRequest(t testing.TB, method, path, token string, body any, claims map[string]string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	headers := map[string]string{"content-type": "application/json"}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	raw := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("encode request body: %v", err)
		}
		raw = string(b)
	}
	rawPath, query, _ := strings.Cut(path, "?")
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: rawPath, RawQueryString: query, Headers: headers, Body: raw,
		RequestContext: events.APIGatewayV2HTTPRequestContext{Stage: "$default", RequestID: fmt.Sprintf("req-%d", requestIDs.Add(1)),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: rawPath, SourceIP: "198.51.100.7"}}}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
	}
	return ev
}
