// Package auth verifies bearer tokens (local or Cognito), puts the caller's Principal in the request context and serves the JWKS and OpenID discovery documents.
package auth
