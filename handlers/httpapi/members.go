package httpapi

import (
	"net/http"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/handlers/problem"
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
