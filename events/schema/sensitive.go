package schema

import (
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events/shred"
)

// Sensitive says, per event type, which fields are sealed under the tenant's
// data key (docs/ARCHITECTURE.md, decision 19; docs/data-protection.md). Every
// registered type is either here or in Clear, and a test holds it so: a new
// type must decide.
var Sensitive = shred.Specs{
	tenant.TypeOnboarded: {Fields: []shred.Field{{Path: "admin_email"}}},
	// A platform event about a tenant, sealed under that tenant's key.
	tenant.TypeNameReserved: {KeyTenant: "tenant_id", Fields: []shred.Field{{Path: "admin_email"}, {Path: "password_verifier"}}},
	tenant.TypeUserAdded:    {Fields: []shred.Field{{Path: "email"}, {Path: "password_hash"}}},
	tenant.TypeUserClaimed:  {Fields: []shred.Field{{Path: "password_hash"}}},
	item.TypePut:            {Fields: []shred.Field{{Path: "data"}}},
	// Property values are hashed in clear: unique_count (and so the audit of
	// an issued invoice) stays exact after erasure.
	metering.TypeRecorded:         {Fields: []shred.Field{{Path: "properties", Mode: shred.HashValues}}},
	metering.TypeReported:         {Fields: []shred.Field{{Path: "records[].properties", Mode: shred.HashValues}}},
	member.TypeAdded:              {Fields: []shred.Field{{Path: "email"}}},
	member.TypeImported:           {Fields: []shred.Field{{Path: "members[].email"}}},
	member.TypePasswordChanged:    {Fields: []shred.Field{{Path: "password_hash"}}},
	member.TypeSessionStarted:     {Fields: []shred.Field{{Path: "client_ip"}}},
	member.TypeLoginFailed:        {Fields: []shred.Field{{Path: "email"}, {Path: "client_ip"}}},
	member.TypeInvitationCreated:  {Fields: []shred.Field{{Path: "email"}}},
	member.TypeInvitationAccepted: {Fields: []shred.Field{{Path: "password_hash"}}},
	member.TypeResetRequested:     {Fields: []shred.Field{{Path: "email"}}},
	member.TypeResetCompleted:     {Fields: []shred.Field{{Path: "password_hash"}}},
	apikey.TypeCreated:            {Fields: []shred.Field{{Path: "name"}}},
	// The admins' emails the notification goes to.
	tenant.TypeSuspended:   {Fields: []shred.Field{{Path: "notify"}}},
	tenant.TypeReactivated: {Fields: []shred.Field{{Path: "notify"}}},
}

// Clear lists the registered types stored entirely in clear, with the reason.
var Clear = map[string]string{
	tenant.TypePlanChanged:            "plan ids and times: what billing segments are cut from",
	tenant.TypeReservationExpired:     "the tenant name, kept in clear as the name stream's id",
	item.TypeDeleted:                  "an item id and a size",
	tenant.TypeDataErased:             "the record of the erasure itself",
	metering.TypeReportAnswered:       "counts only",
	metering.TypeReportClaimed:        "a time only",
	apikey.TypeRegistered:             "key id and tenant: the platform index",
	apikey.TypeRevoked:                "key id and time",
	member.TypeRolesChanged:           "user ids and roles",
	member.TypeRemoved:                "a user id",
	member.TypeSessionRefreshed:       "a keyed hash of a random token",
	member.TypeSessionRevoked:         "ids and a reason",
	member.TypeInvitationRevoked:      "ids",
	billing.TypeInvoiceIssued:         "an issued invoice is retained for legal reasons and audited after erasure",
	billing.TypeCatalogPublished:      "platform data, no tenant's",
	billing.TypeCreditGranted:         "amounts, dates and an operator's reason: the audit of an invoice that spent the credit needs them after erasure",
	billing.TypeCreditVoided:          "a grant id, an amount and an operator's reason",
	billing.TypeCreditApplied:         "an issued invoice and what it took from each grant, audited after erasure",
	billing.TypeEntitlementOverridden: "a feature, a limit and an operator's reason",
	tenant.TypeOffboardingStarted:     "an operator's reason and a flag",
	tenant.TypeErased:                 "an operator's reason: the record of the erasure",
	billing.TypeAlertsConfigured:      "thresholds and a cap: meters and amounts",
	billing.TypeThresholdReached:      "a threshold, a value and a period",
	billing.TypeLimitPassed:           "a feature, counts and a plan",
}
