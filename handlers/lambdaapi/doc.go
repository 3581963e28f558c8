// Package lambdaapi serves API Gateway HTTP API (payload v2) events with the same http.Handler as the local server.
package lambdaapi
