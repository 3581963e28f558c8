package schema

import (
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

// Registry holds every event type tenantstream stores. Add a type here when you add
// one to the domain; give it an upcaster when you change its schema.
var Registry = newRegistry()

func newRegistry() *events.Registry {
	r := events.NewRegistry()
	r.Register(tenant.TypeOnboarded, 1, tenant.Onboarded{})
	r.Register(tenant.TypePlanChanged, 1, tenant.PlanChanged{})
	r.Register(tenant.TypeNameReserved, 1, tenant.NameReserved{})
	r.Register(tenant.TypeUserAdded, 1, tenant.UserAdded{})
	r.Register(tenant.TypeReservationExpired, 1, tenant.ReservationExpired{})
	r.Register(tenant.TypeSuspended, 1, tenant.Suspended{})
	r.Register(tenant.TypeReactivated, 1, tenant.Reactivated{})
	r.Register(tenant.TypeOffboardingStarted, 1, tenant.OffboardingStarted{})
	r.Register(tenant.TypeErased, 1, tenant.Erased{})
	r.Register(item.TypePut, 1, item.Put{})
	r.Register(item.TypeDeleted, 1, item.Deleted{})
	r.Register(metering.TypeRecorded, 1, metering.Recorded{})
	r.Register(metering.TypeReported, 1, metering.Reported{})
	r.Register(metering.TypeReportAnswered, 1, metering.ReportAnswered{})
	r.Register(metering.TypeReportClaimed, 1, metering.ReportClaimed{})
	r.Register(tenant.TypeUserClaimed, 1, tenant.UserClaimed{})
	r.Register(tenant.TypeDataErased, 1, tenant.DataErased{})
	r.Register(apikey.TypeRegistered, 1, apikey.Registered{})
	r.Register(apikey.TypeCreated, 1, apikey.Created{})
	r.Register(apikey.TypeRevoked, 1, apikey.Revoked{})
	r.Register(member.TypeAdded, 1, member.Added{})
	r.Register(member.TypeRolesChanged, 1, member.RolesChanged{})
	r.Register(member.TypeRemoved, 1, member.Removed{})
	r.Register(member.TypePasswordChanged, 1, member.PasswordChanged{})
	r.Register(member.TypeImported, 1, member.Imported{})
	r.Register(member.TypeSessionStarted, 1, member.SessionStarted{})
	r.Register(member.TypeSessionRefreshed, 1, member.SessionRefreshed{})
	r.Register(member.TypeSessionRevoked, 1, member.SessionRevoked{})
	r.Register(member.TypeLoginFailed, 1, member.LoginFailed{})
	r.Register(member.TypeInvitationCreated, 1, member.InvitationCreated{})
	r.Register(member.TypeInvitationAccepted, 1, member.InvitationAccepted{})
	r.Register(member.TypeInvitationRevoked, 1, member.InvitationRevoked{})
	r.Register(member.TypeResetRequested, 1, member.ResetRequested{})
	r.Register(member.TypeResetCompleted, 1, member.ResetCompleted{})
	registerBilling(r)
	return r
}
