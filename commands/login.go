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

// PasswordSignIn checks one user's password and issues the user's tokens. The
// store's argon2id hashes with the local issuer are the default; on AWS Cognito
// does it (handlers/cognito). Auth owns everything around it: validation, the
// throttle and the one bad-credentials answer.
type PasswordSignIn interface {
	// SignIn answers ErrBadCredentials for an unknown user or a wrong password,
	// an error NotChecked recognises when no password was checked, or tokens.
	// tenant is "" when no tenant has the name: an implementation that checks
	// passwords itself must do the same work as for a wrong password.
	SignIn(ctx context.Context, tenant events.TenantID, email, password string) (Tokens, error)
}

// TokenRefresher trades a refresh token for new tokens (Cognito's
// REFRESH_TOKEN_AUTH); Auth refreshes with its Issuer without one.
type TokenRefresher interface {
	Refresh(ctx context.Context, refreshToken string) (Tokens, error)
}

// Auth runs logins and refreshes: locally against the event store and the
// Issuer; on AWS with SignIn and Refresher set to Cognito's.
type Auth struct {
	Service  *Service
	Issuer   TokenIssuer
	Throttle LoginThrottle
	// SignIn, when set, checks passwords instead of the store's hashes.
	SignIn PasswordSignIn
	// Refresher, when set, refreshes instead of Issuer.
	Refresher TokenRefresher
}

// ErrBadCredentials is the one answer to an unknown tenant, an unknown user and
// a wrong password, so a login reveals none of them.
var ErrBadCredentials = domain.Errorf(domain.CodeUnauthenticated, "wrong tenant name, email or password")

// Login checks credentials and issues tokens. Unknown tenants, unknown users and
// wrong passwords get the same error after the same (memory-hard) work.
func (a *Auth) Login(ctx context.Context, c Login) (Tokens, error) {
	if c.TenantName == "" || c.Email == "" || c.Password == "" || len(c.Password) > 256 {
		return Tokens{}, domain.Errorf(domain.CodeInvalid, "tenant_name, email and password are required")
	}
	email, err := tenant.NormalizeEmail(c.Email)
	if err != nil {
		return Tokens{}, ErrBadCredentials
	}
	done, refund := func(bool) {}, func() {}
	if a.Throttle != nil {
		// The attempt is counted now, before the (slow) check, and given back
		// below if no password gets checked.
		if done, refund, err = a.Throttle.Begin(LoginAccount(c.TenantName, email), c.ClientIP); err != nil {
			return Tokens{}, err
		}
	}
	tid, found, err := a.Service.TenantByName(ctx, c.TenantName)
	if err != nil {
		refund()
		return Tokens{}, err
	}
	if !found {
		tid = ""
	}
	var signIn PasswordSignIn = localSignIn{a}
	if a.SignIn != nil {
		signIn = a.SignIn
	}
	t, err := signIn.SignIn(ctx, tid, email, c.Password)
	switch {
	case errors.Is(err, ErrBadCredentials):
		done(false)
		return Tokens{}, ErrBadCredentials
	case err != nil:
		// Busy, cancelled, the provider's own lockout or outage: no password
		// was judged, so the attempt is given back.
		refund()
		return Tokens{}, err
	}
	done(true)
	return t, nil
}

// localSignIn checks the password against the user.added hash in the store and
// issues the local issuer's tokens.
type localSignIn struct{ a *Auth }

func (l localSignIn) SignIn(ctx context.Context, tid events.TenantID, email, password string) (Tokens, error) {
	var u tenant.UserAdded
	found := false
	if tid != "" {
		var err error
		if u, found, err = l.a.Service.findUser(ctx, tid, email); err != nil {
			return Tokens{}, err
		}
	}
	hash := ""
	if found {
		hash = u.PasswordHash
	}
	// An empty hash costs the hasher as much as a real one (a dummy check).
	ok, err := l.a.verify(ctx, password, hash)
	if NotChecked(err) {
		return Tokens{}, err
	}
	if err != nil || !ok || !found {
		return Tokens{}, ErrBadCredentials
	}
	return l.a.Issuer.Issue(identity.Principal{TenantID: string(tid), UserID: u.UserID, Email: u.Email, Roles: u.Roles})
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
	if a.Refresher != nil {
		t, err := a.Refresher.Refresh(ctx, token)
		// Like the local issuer, a refresh returns no new refresh token.
		t.RefreshToken = ""
		return t, err
	}
	p, err := a.Issuer.VerifyRefresh(token)
	if err != nil {
		return Tokens{}, ErrBadRefreshToken
	}
	u, found, err := a.Service.findUser(ctx, events.TenantID(p.TenantID), p.Email)
	if err != nil {
		return Tokens{}, err
	}
	if !found || u.UserID != p.UserID {
		return Tokens{}, ErrBadRefreshToken
	}
	t, err := a.Issuer.Issue(identity.Principal{TenantID: p.TenantID, UserID: u.UserID, Email: u.Email, Roles: u.Roles})
	t.RefreshToken = ""
	return t, err
}

// ErrBadRefreshToken answers a refresh token that is not (or no longer) valid.
var ErrBadRefreshToken = domain.Errorf(domain.CodeUnauthenticated, "invalid refresh token")

// TokenLifetime is how long access and ID tokens last.
const TokenLifetime = time.Hour
