package commands

import (
	"context"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

// Login asks for tokens with a password.
type Login struct {
	TenantName string
	Email      string
	Password   string
	ClientIP   string
}

// Tokens is what a login or refresh returns (Cognito's shape).
type Tokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// TokenIssuer signs tokens for a principal and checks refresh tokens.
type TokenIssuer interface {
	Issue(p identity.Principal) (Tokens, error)
	VerifyRefresh(token string) (identity.Principal, error)
}

// LoginThrottle slows down repeated failures. Check returns a rate_limited error
// while a key is locked out.
type LoginThrottle interface {
	Check(keys ...string) error
	Failure(keys ...string)
	Success(keys ...string)
}

// Auth runs logins and refreshes against the event store.
type Auth struct {
	Service  *Service
	Issuer   TokenIssuer
	Throttle LoginThrottle
}

var errBadCredentials = domain.Errorf(domain.CodeUnauthenticated, "wrong tenant name, email or password")

// Login checks credentials and issues tokens. Unknown tenants, unknown users and
// wrong passwords get the same error after the same (memory-hard) work.
func (a *Auth) Login(ctx context.Context, c Login) (Tokens, error) {
	if c.TenantName == "" || c.Email == "" || c.Password == "" || len(c.Password) > 256 {
		return Tokens{}, domain.Errorf(domain.CodeInvalid, "tenant_name, email and password are required")
	}
	email, err := tenant.NormalizeEmail(c.Email)
	if err != nil {
		return Tokens{}, errBadCredentials
	}
	keys := []string{"user:" + tenant.NameKey(c.TenantName) + "/" + email, "ip:" + c.ClientIP}
	if a.Throttle != nil {
		if err := a.Throttle.Check(keys...); err != nil {
			return Tokens{}, err
		}
	}
	u, tid, found, err := a.lookup(ctx, c.TenantName, email)
	if err != nil {
		return Tokens{}, err
	}
	hash := ""
	if found {
		hash = u.PasswordHash
	}
	ok, err := a.Service.Passwords.Verify(c.Password, hash)
	if err != nil || !ok || !found {
		if a.Throttle != nil {
			a.Throttle.Failure(keys...)
		}
		return Tokens{}, errBadCredentials
	}
	if a.Throttle != nil {
		a.Throttle.Success(keys...)
	}
	return a.Issuer.Issue(identity.Principal{TenantID: string(tid), UserID: u.UserID, Email: u.Email, Roles: u.Roles})
}

// Refresh issues new tokens for a valid refresh token of a user that still exists.
func (a *Auth) Refresh(ctx context.Context, token string) (Tokens, error) {
	if token == "" || len(token) > 8192 {
		return Tokens{}, domain.FieldError("refresh_token", "is required")
	}
	p, err := a.Issuer.VerifyRefresh(token)
	if err != nil {
		return Tokens{}, domain.Errorf(domain.CodeUnauthenticated, "invalid refresh token")
	}
	u, found, err := a.Service.findUser(ctx, events.TenantID(p.TenantID), p.Email)
	if err != nil {
		return Tokens{}, err
	}
	if !found || u.UserID != p.UserID {
		return Tokens{}, domain.Errorf(domain.CodeUnauthenticated, "invalid refresh token")
	}
	t, err := a.Issuer.Issue(identity.Principal{TenantID: p.TenantID, UserID: u.UserID, Email: u.Email, Roles: u.Roles})
	t.RefreshToken = ""
	return t, err
}

func (a *Auth) lookup(ctx context.Context, name, email string) (tenant.UserAdded, events.TenantID, bool, error) {
	tid, found, err := a.Service.TenantByName(ctx, name)
	if err != nil || !found {
		return tenant.UserAdded{}, "", false, err
	}
	u, found, err := a.Service.findUser(ctx, tid, email)
	return u, tid, found, err
}

// TokenLifetime is how long access and ID tokens last.
const TokenLifetime = time.Hour
