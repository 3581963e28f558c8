package httpapi

import (
	"net/http"
	"time"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/handlers/problem"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

// The routes of a tenant's people: its users, sessions and passwords
// (docs/api.md, "Users and sessions").

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		limit, err := queryInt(r, "limit", 100, 1000)
		if err != nil {
			return nil, err
		}
		return a.Service.ListUsers(r.Context(), m, r.PathValue("tenant_id"), r.URL.Query().Get("after"), limit)
	})(w, r)
}

// UserPatchRequest is the body of PATCH /tenants/{tenant_id}/users/{user_id}.
type UserPatchRequest struct {
	Roles []string `json:"roles"`
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body UserPatchRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	u, err := a.Service.SetUserRoles(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("user_id"), body.Roles)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (a *API) removeUser(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	if err := a.Service.RemoveUser(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("user_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// LogoutRequest is the body of POST /auth/logout.
type LogoutRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	var body LogoutRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	if err := a.Logins.Logout(r.Context(), body.RefreshToken); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// PasswordRequest is the body of POST /auth/password.
type PasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body PasswordRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	t, err := a.Logins.ChangePassword(r.Context(), m, commands.ChangePassword{CurrentPassword: body.CurrentPassword, NewPassword: body.NewPassword, ClientIP: clientHost(r)}, a.PasswordPolicy)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, t)
}

// InvitationRequest is the body of POST /tenants/{tenant_id}/invitations.
type InvitationRequest struct {
	Email string   `json:"email"`
	Roles []string `json:"roles,omitempty"`
}

func (a *API) createInvitation(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body InvitationRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	finishFingerprint(r, &m)
	inv, err := a.Service.CreateInvitation(r.Context(), m, commands.CreateInvitation{Tenant: r.PathValue("tenant_id"), Email: body.Email, Roles: body.Roles})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, inv)
}

func (a *API) listInvitations(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		limit, err := queryInt(r, "limit", 100, 1000)
		if err != nil {
			return nil, err
		}
		return a.Service.ListInvitations(r.Context(), m, r.PathValue("tenant_id"), r.URL.Query().Get("after"), limit)
	})(w, r)
}

func (a *API) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	if err := a.Service.RevokeInvitation(r.Context(), m, r.PathValue("tenant_id"), r.PathValue("invitation_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AcceptInvitationRequest is the body of POST /invitations/accept.
type AcceptInvitationRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// acceptInvitation is public: it serves nothing without a token the server
// derived for one invitation, and answers every token it cannot use alike.
func (a *API) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var body AcceptInvitationRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	if a.Logins == nil {
		return errNoLogins
	}
	m := commands.Meta{CorrelationID: problem.RequestIDFrom(r.Context())}
	t, err := a.Logins.AcceptInvitation(r.Context(), m, commands.AcceptInvitation{Token: body.Token, Password: body.Password, ClientIP: clientHost(r)}, a.PasswordPolicy)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, t)
}

// errNoLogins answers the routes that issue tokens on an API built without Logins.
var errNoLogins = domain.Errorf(domain.CodeUnavailable, "logins are not available on this deployment")

// PasswordResetRequest is the body of POST /auth/password-reset.
type PasswordResetRequest struct {
	TenantName string `json:"tenant_name"`
	Email      string `json:"email"`
}

// PasswordResetAnswer is the one answer of POST /auth/password-reset.
type PasswordResetAnswer struct {
	Status string `json:"status"`
}

// DefaultPasswordResetRate is the per-address limit of POST /auth/password-reset
// that tenantstream serve and the api function apply.
var DefaultPasswordResetRate = ratelimit.Rate{N: 10, Per: time.Minute, Burst: 10}

func (a *API) requestPasswordReset(w http.ResponseWriter, r *http.Request) error {
	// Counted per address before any work; the per-account bound is the
	// command's (commands.ResetsPerHour), so a 429 says nothing of an account.
	if ok, wait := a.PasswordResetLimit.Allow(ratelimit.ClientKey(r.RemoteAddr)); !ok {
		return &rateLimited{wait: wait, msg: "Too many password reset requests from this address; retry later."}
	}
	var body PasswordResetRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	m := commands.Meta{CorrelationID: problem.RequestIDFrom(r.Context())}
	if err := a.Service.RequestPasswordReset(r.Context(), m, commands.RequestPasswordReset{TenantName: body.TenantName, Email: body.Email}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, PasswordResetAnswer{Status: "requested"})
}

// PasswordResetConfirmRequest is the body of POST /auth/password-reset/confirm.
type PasswordResetConfirmRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (a *API) confirmPasswordReset(w http.ResponseWriter, r *http.Request) error {
	var body PasswordResetConfirmRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	m := commands.Meta{CorrelationID: problem.RequestIDFrom(r.Context())}
	if err := a.Service.ConfirmPasswordReset(r.Context(), m, commands.ConfirmPasswordReset{Token: body.Token, NewPassword: body.NewPassword}, a.PasswordPolicy); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
