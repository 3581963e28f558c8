// Package identity defines the authenticated Principal, the roles a tenant user can hold and the key of a client address.
package identity
