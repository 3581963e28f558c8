// Package identity is the local identity provider: password policy and hashing, a Cognito-shaped token issuer with its signing key, and login throttling.
package identity
