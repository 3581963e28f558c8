package identity

import "slices"

// Roles a user can hold within a tenant, carried as cognito:groups.
const (
	RoleTenantAdmin   = "tenant_admin"
	RoleTenantMember  = "tenant_member"
	RolePlatformAdmin = "platform_admin"
)

// OperatorActorPrefix starts the UserID of a platform operator ("operator:NAME"),
// and so the actor of every event an operator causes (docs/lifecycle.md).
const OperatorActorPrefix = "operator:"

// Principal is who is calling, taken only from a verified token (docs/ARCHITECTURE.md, decision 9a).
type Principal struct {
	TenantID string
	UserID   string
	Email    string
	Roles    []string
	// Username is the identity provider's name for the user (the token's
	// username or cognito:username claim): on AWS it is how the roster finds
	// the member, since Cognito's sub is not the store's user id.
	Username string
	// KeyID is set when the caller is an API key (docs/ARCHITECTURE.md, "API
	// keys"): UserID is then "key:<KeyID>", so events record the key, Roles is
	// empty, and Scopes limits what it may do.
	KeyID  string
	Scopes []string
}

// HasScope reports whether the principal may act within scope: a user's token
// holds every scope (its roles decide), an API key only those it was given.
func (p Principal) HasScope(scope string) bool {
	return p.KeyID == "" || slices.Contains(p.Scopes, scope)
}

// Has reports whether the principal holds role.
func (p Principal) Has(role string) bool { return slices.Contains(p.Roles, role) }

// CanAccessTenant reports whether the principal may act on tenant: its own tenant,
// or any tenant for a platform admin (whose access is audited by the caller).
func (p Principal) CanAccessTenant(tenant string) bool {
	return tenant != "" && (p.TenantID == tenant || p.Has(RolePlatformAdmin))
}
