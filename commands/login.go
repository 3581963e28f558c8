package commands

import (
	"context"
	"errors"
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

// LoginThrottle slows down repeated failures (*identity.Throttle; docs/api.md,
// "Login throttling"). Begin reserves one attempt on account from the client
// address before its password is checked, or returns a rate_limited error, so
// concurrent attempts cannot all pass a check made before any of them failed.
// After a nil error exactly one of done (the password was checked; ok: it was
// right) or refund (it never was) must be called.
type LoginThrottle interface {
	Begin(account, address string) (done func(ok bool), refund func(), err error)
}

// ContextVerifier is a PasswordHasher whose wait for room to verify stops when
// the request ends (*identity.Hasher is one).
type ContextVerifier interface {
	VerifyContext(ctx context.Context, password, encoded string) (bool, error)
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
	done, refund := func(bool) {}, func() {}
	if a.Throttle != nil {
		// The attempt is counted now, before the (slow) hash, and given back
		// below if no password gets checked.
		if done, refund, err = a.Throttle.Begin(LoginAccount(c.TenantName, email), c.ClientIP); err != nil {
			return Tokens{}, err
		}
	}
	u, tid, found, err := a.lookup(ctx, c.TenantName, email)
	if err != nil {
		refund()
		return Tokens{}, err
	}
	hash := ""
	if found {
		hash = u.PasswordHash
	}
	ok, err := a.verify(ctx, c.Password, hash)
	if NotChecked(err) {
		refund()
		return Tokens{}, err
	}
	if err != nil || !ok || !found {
		done(false)
		return Tokens{}, errBadCredentials
	}
	done(true)
	return a.Issuer.Issue(identity.Principal{TenantID: string(tid), UserID: u.UserID, Email: u.Email, Roles: u.Roles})
}

// LoginAccount is the throttle's name for an account: the tenant name as it is
// unique (ignoring case) and the normalized email.
func LoginAccount(tenantName, email string) string {
	return tenant.NameKey(tenantName) + "/" + email
}

// NotChecked reports whether err means a password was never checked: the
// server was too busy (unavailable, as the hasher's BusyError), or the
// request ended first. Such an attempt is refunded, not counted as a failure.
func NotChecked(err error) bool {
	return err != nil && (domain.ErrorCode(err) == domain.CodeUnavailable ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

func (a *Auth) verify(ctx context.Context, password, hash string) (bool, error) {
	if v, ok := a.Service.Passwords.(ContextVerifier); ok {
		return v.VerifyContext(ctx, password, hash)
	}
	return a.Service.Passwords.Verify(password, hash)
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
