// Package identity defines the authenticated Principal and the roles a tenant user can hold.
package identity
