package cognito_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	cmdidentity "github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/identity"
	dmember "github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// TestInvitationAndResetOnMoto: on a Cognito deployment an accepted
// invitation creates the Cognito user (AdminCreateUser, a permanent password,
// its group) and signs it in; a password reset confirmed with its token sets
// the password in Cognito, so the old one no longer signs in and the new one does.
func TestInvitationAndResetOnMoto(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.svc.ResetAnswerTime = -1
	out, err := e.svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "Acme", Email: "admin@acme.test", Password: "Sup3r-secret!"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	admin := commands.Meta{Principal: identity.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{identity.RoleTenantAdmin}}}

	inv, err := e.svc.CreateInvitation(ctx, admin, commands.CreateInvitation{Tenant: out.TenantID, Email: "carol@acme.test", Roles: []string{identity.RoleTenantAdmin}})
	require.NoError(t, err)
	token := e.svc.InvitationToken(out.TenantID, inv.InvitationID)
	tok, err := e.logins.AcceptInvitation(ctx, commands.Meta{}, commands.AcceptInvitation{Token: token, Password: "Car0l-secret-pass"}, cmdidentity.ValidatePassword)
	require.NoError(t, err)
	p, err := e.ver.Verify(ctx, tok.IDToken)
	require.NoError(t, err, "the answer is Cognito's sign-in")
	assert.Equal(t, out.TenantID, p.TenantID)
	assert.Equal(t, []string{identity.RoleTenantAdmin}, p.Roles, "the invitation's roles are the Cognito groups")
	_, err = e.logins.Login(ctx, commands.Login{TenantName: "Acme", Email: "carol@acme.test", Password: "Car0l-secret-pass"})
	require.NoError(t, err)
	_, err = e.logins.AcceptInvitation(ctx, commands.Meta{}, commands.AcceptInvitation{Token: token, Password: "Oth3r-secret-pass"}, cmdidentity.ValidatePassword)
	assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), "single use")

	// A reset: requested, confirmed with the derived token, set in Cognito.
	require.NoError(t, e.svc.RequestPasswordReset(ctx, commands.Meta{}, commands.RequestPasswordReset{TenantName: "Acme", Email: "carol@acme.test"}))
	page, err := e.svc.Store.ReadTenant(ctx, events.TenantID(out.TenantID), "", events.ReadOptions{Types: []string{dmember.TypeResetRequested}})
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	req, err := events.DecodeAs[dmember.ResetRequested](schema.Registry, page.Events[0])
	require.NoError(t, err)
	require.NoError(t, e.svc.ConfirmPasswordReset(ctx, commands.Meta{}, commands.ConfirmPasswordReset{Token: e.svc.ResetToken(out.TenantID, req.ResetID), NewPassword: "Res3t-secret-pass"}, cmdidentity.ValidatePassword))
	_, err = e.logins.Login(ctx, commands.Login{TenantName: "Acme", Email: "carol@acme.test", Password: "Car0l-secret-pass"})
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "the old password no longer signs in")
	_, err = e.logins.Login(ctx, commands.Login{TenantName: "Acme", Email: "carol@acme.test", Password: "Res3t-secret-pass"})
	require.NoError(t, err)
}
