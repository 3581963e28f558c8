package commands

import (
	"context"
	"errors"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/member"
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

// TokenIssuer signs access and ID tokens for a principal (the refresh token
// it returns is replaced by the session's, decision 15).
type TokenIssuer interface {
	Issue(p identity.Principal) (Tokens, error)
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
	// Refresher, when set, refreshes instead of the local sessions.
	Refresher TokenRefresher
	// Revoker, when set, revokes refresh tokens at logout instead of the local sessions.
	Revoker TokenRevoker
}

// maxPasswordBytes bounds the password a login or a password change reads:
// the policy allows 256 characters (identity.MaxPasswordLength, Cognito's
// limit), which UTF-8 may spell in up to 4 bytes each. A bound in bytes below
// that would refuse passwords the policy accepted and lock their users out.
const maxPasswordBytes = 4 * 256

// ErrBadCredentials is the one answer to an unknown tenant, an unknown user and
// a wrong password, so a login reveals none of them.
var ErrBadCredentials = domain.Errorf(domain.CodeUnauthenticated, "wrong tenant name, email or password")

// Login checks credentials and issues tokens. Unknown tenants, unknown users and
// wrong passwords get the same error after the same (memory-hard) work.
func (a *Auth) Login(ctx context.Context, c Login) (Tokens, error) {
	if c.TenantName == "" || c.Email == "" || c.Password == "" || len(c.Password) > maxPasswordBytes {
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
	var signIn PasswordSignIn = localSignIn{a, c.ClientIP}
	if a.SignIn != nil {
		signIn = a.SignIn
	}
	t, err := signIn.SignIn(ctx, tid, email, c.Password)
	switch {
	case errors.Is(err, ErrBadCredentials):
		done(false)
		if tid != "" {
			a.recordFailure(ctx, tid, email, c.ClientIP)
		}
		return Tokens{}, ErrBadCredentials
	case err != nil:
		// Busy, cancelled, the provider's own lockout or outage: no password
		// was judged, so the attempt is given back.
		refund()
		return Tokens{}, err
	}
	if a.SignIn != nil && tid != "" {
		// The directory may still hold a member the roster removed (its
		// deletion failed and is retried): the roster decides who may log in.
		if _, found, ferr := a.Service.findUser(ctx, tid, email); ferr != nil {
			refund()
			return Tokens{}, ferr
		} else if !found {
			done(false)
			return Tokens{}, ErrBadCredentials
		}
	}
	done(true)
	return t, nil
}

// localSignIn checks the password against the user.added hash in the store and
// issues the local issuer's tokens.
type localSignIn struct {
	a        *Auth
	clientIP string
}

func (l localSignIn) SignIn(ctx context.Context, tid events.TenantID, email, password string) (Tokens, error) {
	s := l.a.Service
	var u tenant.UserAdded
	var mem *member.Member
	var rosterVersion int64
	if tid != "" {
		var exists bool
		var err error
		if u, _, exists, err = s.userRecord(ctx, tid, email); err != nil {
			return Tokens{}, err
		}
		if exists {
			var r *member.Roster
			if mem, r, err = s.memberOf(ctx, tid, u); err != nil {
				return Tokens{}, err
			}
			rosterVersion = r.Version
		}
	}
	found := mem != nil && mem.Active
	hash := ""
	if found {
		hash = u.PasswordHash
		if mem.PasswordHash != "" {
			hash = mem.PasswordHash
		}
	}
	// An empty hash costs the hasher as much as a real one (a dummy check).
	ok, err := l.a.verify(ctx, password, hash)
	if NotChecked(err) {
		return Tokens{}, err
	}
	if err != nil || !ok || !found {
		return Tokens{}, ErrBadCredentials
	}
	return l.a.startSession(ctx, tid, u, mem.Roles, rosterVersion, l.clientIP)
}

// recordFailure appends a failed login to the tenant's audit trail (the day's
// login.failed stream). The throttle bounds how many an attacker can cause; a
// failure to record is logged, never the login's answer.
func (a *Auth) recordFailure(ctx context.Context, tid events.TenantID, email, clientIP string) {
	s := a.Service
	now := s.Clock.Now()
	_, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: events.StreamID(member.LoginFailuresStreamID(now)), StreamType: member.LoginFailuresStreamType,
		Expected: events.AnyVersion,
		Events:   []events.NewEvent{newEvent(&member.LoginFailed{Email: email, Reason: "bad_credentials", ClientIP: clientIP, At: now})},
	})
	if err != nil {
		s.logger().WarnContext(ctx, "login failure not recorded", "tenant", tid, "err", err)
	}
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

// Refresh trades a refresh token for new tokens: locally by rotating the
// session's refresh token (the answer carries the next one).
func (a *Auth) Refresh(ctx context.Context, token string) (Tokens, error) {
	if token == "" || len(token) > 8192 {
		return Tokens{}, ErrBadRefreshTokenField
	}
	if a.Refresher != nil {
		t, err := a.Refresher.Refresh(ctx, token)
		// Cognito returns no new refresh token (without its rotation feature).
		t.RefreshToken = ""
		return t, err
	}
	return a.refreshSession(ctx, token)
}

// ErrBadRefreshTokenField answers a refresh or logout without a token.
var ErrBadRefreshTokenField = domain.FieldError("refresh_token", "is required")

// ErrBadRefreshToken answers a refresh token that is not (or no longer) valid.
var ErrBadRefreshToken = domain.Errorf(domain.CodeUnauthenticated, "invalid refresh token")
