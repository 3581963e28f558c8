package commands

import (
	"context"
	"slices"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/events"
)

// Me is the answer of GET /me: who the caller is, in which tenant, and what it
// may do.
type Me struct {
	TenantID string `json:"tenant_id"`
	// Principal is a UserPrincipal or a KeyPrincipal.
	Principal any      `json:"principal"`
	Roles     []string `json:"roles"`
	Scopes    []string `json:"scopes"`
}

// UserPrincipal is a person signed in with a token.
type UserPrincipal struct {
	Type   string `json:"type"` // "user"
	UserID string `json:"user_id"`
	// Email is the token's, or the tenant's record of the user's; "" when
	// neither names one (a platform admin outside its own tenant).
	Email string `json:"email"`
}

// KeyPrincipal is an API key.
type KeyPrincipal struct {
	Type  string `json:"type"` // "api_key"
	KeyID string `json:"key_id"`
	Name  string `json:"name"`
}

// Principal types, as GET /me and the audit log name them.
const (
	PrincipalUser   = "user"
	PrincipalAPIKey = "api_key"
	PrincipalSystem = "system"
)

// Me describes the caller. Any authenticated principal may ask, a key
// whatever its scopes: it reads only the caller's own identity. A user holds
// every scope (its roles decide what it may do); a key holds no role.
func (s *Service) Me(ctx context.Context, m Meta) (Me, error) {
	p := m.Principal
	if p.UserID == "" {
		return Me{}, domain.Errorf(domain.CodeUnauthenticated, "no authenticated principal")
	}
	tid := events.TenantID(p.TenantID)
	out := Me{TenantID: p.TenantID, Roles: []string{}, Scopes: []string{}}
	if p.KeyID != "" {
		if tid == "" {
			return Me{}, domain.Errorf(domain.CodeUnauthenticated, "no authenticated tenant")
		}
		keys, _, err := s.loadKeys(ctx, tid)
		if err != nil {
			return Me{}, err
		}
		kp := KeyPrincipal{Type: PrincipalAPIKey, KeyID: p.KeyID}
		if i := slices.IndexFunc(keys, func(k *keyState) bool { return k.created.KeyID == p.KeyID }); i >= 0 {
			kp.Name = keys[i].created.Name
		}
		out.Principal = kp
		out.Scopes = append(out.Scopes, p.Scopes...)
		return out, nil
	}
	up := UserPrincipal{Type: PrincipalUser, UserID: p.UserID, Email: p.Email}
	if up.Email == "" && tid != "" {
		// Access tokens carry no email (Cognito's do not either).
		emails, err := s.memberEmails(ctx, tid)
		if err != nil {
			return Me{}, err
		}
		up.Email = emails[p.UserID]
	}
	out.Principal = up
	out.Roles = append(out.Roles, p.Roles...)
	out.Scopes = append(out.Scopes, apikey.Scopes...)
	return out, nil
}
