package schema

import (
	"encoding/json"
	"flag"
	"github.com/tenantstream/tenantstream/domain/apikey"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var at = time.Date(2026, 11, 14, 9, 30, 0, 123456000, time.UTC)

var expires = time.Date(2027, 11, 14, 0, 0, 0, 0, time.UTC)

// samples holds one fully populated payload per stored event type. Stored events
// never change, so their serialized form is pinned by a golden file each.
func samples() map[string]any {
	p, _ := billing.ParsePeriod("2026-10")
	unit := decimal.RequireFromString("0.0005")
	return map[string]any{
		tenant.TypeOnboarded:    &tenant.Onboarded{TenantID: "01a2-tenant", Name: "acme", Plan: "starter", AdminUserID: "01a2-user", AdminEmail: "admin@acme.test", At: at, PlanVersion: 2},
		tenant.TypePlanChanged:  &tenant.PlanChanged{From: "starter", To: "pro", At: at, PlanVersion: 3},
		tenant.TypeNameReserved: &tenant.NameReserved{Name: "acme", TenantID: "01a2-tenant", AdminEmail: "admin@acme.test", UserID: "01a2-user", Plan: "starter", PasswordVerifier: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", At: at},
		tenant.TypeUserAdded:    &tenant.UserAdded{UserID: "01a2-user", Email: "admin@acme.test", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", Roles: []string{"tenant_admin"}, At: at},
		item.TypePut:            &item.Put{ItemID: "doc-1", Data: json.RawMessage(`{"title":"hello"}`), Size: 17, PrevSize: 0, At: at},
		item.TypeDeleted:        &item.Deleted{ItemID: "doc-1", PrevSize: 17, At: at},
		metering.TypeRecorded:   &metering.Recorded{ID: "u-1", Meter: "compute_seconds", Quantity: "12.5", Timestamp: at, Properties: map[string]string{"region": "eu"}, Source: "api"},
		metering.TypeReported: &metering.Reported{Records: []metering.Recorded{
			{ID: "u-1", Meter: "compute_seconds", Quantity: "12.5", Timestamp: at, Properties: map[string]string{"region": "eu"}, Source: "api"},
			{ID: "u-2", Meter: "compute_seconds", Quantity: "0.000000000001", Timestamp: at.Add(time.Second), Source: "api"},
		}},
		metering.TypeReportAnswered: &metering.ReportAnswered{Accepted: 998, Duplicates: 2},
		metering.TypeReportClaimed:  &metering.ReportClaimed{At: at},
		tenant.TypeUserClaimed:      &tenant.UserClaimed{UserID: "01a2-user", Role: "tenant_member", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", At: at},
		billing.TypeInvoiceIssued: &billing.Issued{
			Invoice: billing.Invoice{
				InvoiceID: "inv_1", Number: 3, TenantID: "01a2-tenant", Period: p, Currency: "USD",
				Segments: []billing.PlanSegment{{Plan: "starter", Version: 2, From: p.Start(), To: p.End()}},
				Lines: []billing.Line{
					{Kind: billing.LineBaseFee, Plan: "starter", Description: "starter base fee", Quantity: decimal.NewFromInt(31), Billable: decimal.NewFromInt(31), Amount: decimal.RequireFromString("19.00")},
					{Kind: billing.LineUsage, Plan: "starter", Meter: "api_requests", Description: "api_requests", Quantity: decimal.NewFromInt(120000), Billable: decimal.NewFromInt(20000), UnitPrice: &unit, Amount: decimal.RequireFromString("10.00")},
				},
				Subtotal: decimal.RequireFromString("29.00"), IssuedAt: at,
			},
			UsageVersion: 42, Opening: map[string]string{"storage_bytes": "1024"}, ProfileVersion: 2,
		},

		billing.TypeCreditGranted: &billing.CreditGranted{GrantID: "cr_1", Amount: "10.00", Currency: "USD", Priority: 1, EffectiveAt: at,
			ExpiresAt: &expires, Kind: billing.CreditPromotional, Reason: "outage compensation", Actor: "operator", At: at},
		billing.TypeCreditVoided: &billing.CreditVoided{GrantID: "cr_1", Amount: "4.50", Reason: "granted in error", Actor: "operator", At: at},
		billing.TypeCreditApplied: &billing.CreditApplied{InvoiceID: "inv_1", Period: p, TotalBeforeCredits: "29.00",
			Allocations: []billing.CreditAllocation{{GrantID: "cr_1", Amount: "5.50"}},
			Issued: billing.Issued{
				Invoice: billing.Invoice{
					InvoiceID: "inv_1", Number: 3, TenantID: "01a2-tenant", Period: p, Currency: "USD",
					Segments: []billing.PlanSegment{{Plan: "starter", Version: 2, From: p.Start(), To: p.End()}},
					Lines: []billing.Line{
						{Kind: billing.LineBaseFee, Plan: "starter", Description: "starter base fee", Quantity: decimal.NewFromInt(31), Billable: decimal.NewFromInt(31), Amount: decimal.RequireFromString("29.00")},
						{Kind: billing.LineCredit, Grant: "cr_1", Description: "promotional credit cr_1", Quantity: decimal.Zero, Billable: decimal.Zero, Amount: decimal.RequireFromString("-5.50")},
					},
					Subtotal: decimal.RequireFromString("23.50"), IssuedAt: at, Proration: billing.CurrentProration,
				},
				UsageVersion: 42, ProfileVersion: 2, CreditsVersion: 4,
			},
			At: at},

		tenant.TypeReservationExpired: &tenant.ReservationExpired{Name: "acme", At: at},
		tenant.TypeDataErased:         &tenant.DataErased{At: at},
		tenant.TypeSuspended:          &tenant.Suspended{Reason: "invoice 7 unpaid", Notify: []string{"admin@acme.test"}, At: at},
		tenant.TypeReactivated:        &tenant.Reactivated{Reason: "paid", Notify: []string{"admin@acme.test"}, At: at},
		tenant.TypeOffboardingStarted: &tenant.OffboardingStarted{Reason: "contract ended", Erase: true, At: at},
		tenant.TypeErased:             &tenant.Erased{Reason: "contract ended", At: at},
		billing.TypeCatalogPublished:  catalogPublishedSample(),
		billing.TypeEntitlementOverridden: &billing.EntitlementOverridden{Feature: "seats", Action: billing.OverrideLimit,
			Limit: decimalPtr("5"), Reason: "support ticket 42: five seats until the contract is signed", At: at},
		billing.TypeLimitPassed: &billing.LimitPassed{Feature: "compute", Meter: "compute_seconds", Period: billing.Period{Year: 2026, Month: 11},
			Limit: decimal.RequireFromString("3600"), Used: decimal.RequireFromString("3602.5"), Plan: billing.PlanRef{Plan: "free", Version: 2}, At: at},
		billing.TypeAlertsConfigured: &billing.AlertsConfigured{Thresholds: []billing.Threshold{
			{Meter: "compute_seconds", Quantity: "3600"}, {Meter: "item_writes", PercentOfLimit: intPtr(80)}, {PercentOfLimit: intPtr(100)}, {Subtotal: "50"},
		}, SpendCap: stringPtr("100"), At: at},
		billing.TypeThresholdReached: &billing.ThresholdReached{ThresholdID: "p-item_writes-80", Threshold: billing.Threshold{Meter: "item_writes", PercentOfLimit: intPtr(80)},
			Kind: billing.ThresholdPercent, Meter: "item_writes", Value: decimal.RequireFromString("8000"), Limit: decimalPtr("10000"), Reached: decimal.RequireFromString("8004"),
			Period: billing.Period{Year: 2026, Month: 11}, Plan: billing.PlanRef{Plan: "free", Version: 2}, Source: "plan", At: at},
		apikey.TypeRegistered: &apikey.Registered{KeyID: "abcdefghij234567", TenantID: "01a2-tenant", At: at},
		apikey.TypeCreated: &apikey.Created{KeyID: "abcdefghij234567", Name: "ingest", Scopes: []string{"usage:write", "data:read"},
			SecretHash: "5f0e3d3c2a1b00112233445566778899aabbccddeeff00112233445566778899", CreatedAt: at, ExpiresAt: &expires},
		apikey.TypeRevoked:            &apikey.Revoked{KeyID: "abcdefghij234567", At: at},
		member.TypeAdded:              &member.Added{UserID: "01a2-user", Email: "dev@acme.test", Roles: []string{"tenant_member"}, Source: member.SourceInvitation, EmailVerified: true, At: at},
		member.TypeRolesChanged:       &member.RolesChanged{UserID: "01a2-user", Roles: []string{"tenant_admin"}, From: []string{"tenant_member"}, At: at},
		member.TypeRemoved:            &member.Removed{UserID: "01a2-user", At: at},
		member.TypePasswordChanged:    &member.PasswordChanged{UserID: "01a2-user", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", Reason: member.PasswordReset, ResetID: "01a2-reset", At: at},
		member.TypeImported:           &member.Imported{Members: []member.Added{{UserID: "01a2-user", Email: "admin@acme.test", Roles: []string{"tenant_admin"}, Source: member.SourceImport, At: at}}, At: at},
		member.TypeSessionStarted:     &member.SessionStarted{SessionID: "01a2-session", UserID: "01a2-user", RefreshHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", RosterVersion: 3, ClientIP: "192.0.2.1", ExpiresAt: expires, At: at},
		member.TypeSessionRefreshed:   &member.SessionRefreshed{SessionID: "01a2-session", RefreshHash: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", At: at},
		member.TypeSessionRevoked:     &member.SessionRevoked{SessionID: "01a2-session", Reason: member.RevokedReuse, At: at},
		member.TypeLoginFailed:        &member.LoginFailed{Email: "admin@acme.test", Reason: "bad_credentials", ClientIP: "192.0.2.1", At: at},
		member.TypeInvitationCreated:  &member.InvitationCreated{InvitationID: "01a2-invitation", Email: "dev@acme.test", Roles: []string{"tenant_member"}, ExpiresAt: expires, At: at},
		member.TypeInvitationAccepted: &member.InvitationAccepted{InvitationID: "01a2-invitation", UserID: "01a2-user", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", At: at},
		member.TypeInvitationRevoked:  &member.InvitationRevoked{InvitationID: "01a2-invitation", At: at},
		member.TypeResetRequested:     &member.ResetRequested{ResetID: "01a2-reset", UserID: "01a2-user", Email: "dev@acme.test", RosterVersion: 3, ExpiresAt: expires, At: at},
		member.TypeResetCompleted:     &member.ResetCompleted{ResetID: "01a2-reset", UserID: "01a2-user", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", At: at},
	}
}

func catalogPublishedSample() *billing.CatalogPublished {
	cat, err := billing.ParseCatalog([]byte(`{"currency":"USD",
	 "meters":[{"id":"compute_seconds","name":"Compute seconds","aggregation":"sum"},{"id":"seats","aggregation":"unique_count","property":"user"}],
	 "plans":[{"id":"free","base_fee":"0"},
	  {"id":"pro","name":"Pro","base_fee":"49.00","base_fee_timing":"arrears","minimum_charge":"10.00","prices":[
	   {"meter":"api_requests","model":"graduated","included_units":"1000","tiers":[{"up_to":"5","unit_price":"5","flat_fee":"0"},{"unit_price":"1","flat_fee":"2"}]},
	   {"meter":"storage_bytes","model":"package","package_size":"1073741824","package_price":"0.10","free_units":"10737418240"},
	   {"meter":"compute_seconds","model":"per_unit","unit_price":"0.0001","transform_quantity":{"divide_by":"60","round":"up"}}]}]}`))
	if err != nil {
		panic(err)
	}
	return &billing.CatalogPublished{Catalog: cat, Created: []billing.PlanRef{{Plan: "pro", Version: 2}}, At: at}
}

// Profile events and invoices recorded before plans had versions carry none:
// they decode with version 0 (version 1), and an event without a version is
// still stored in that older form.
func TestLegacyEventsWithoutPlanVersionsDecode(t *testing.T) {
	tests := []struct {
		typ, raw string
		want     any
	}{
		{tenant.TypeOnboarded, `{"tenant_id":"t","tenant_name":"acme","plan":"pro","admin_user_id":"u","admin_email":"a@acme.test","at":"2026-11-14T09:30:00.123456Z"}`,
			&tenant.Onboarded{TenantID: "t", Name: "acme", Plan: "pro", AdminUserID: "u", AdminEmail: "a@acme.test", At: at}},
		{tenant.TypePlanChanged, `{"from":"starter","to":"pro","at":"2026-11-14T09:30:00.123456Z"}`,
			&tenant.PlanChanged{From: "starter", To: "pro", At: at}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			got, err := Registry.Decode(events.Event{Type: tt.typ, SchemaVersion: 1, Data: json.RawMessage(tt.raw)})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			ne, err := Registry.New(tt.want)
			require.NoError(t, err)
			assert.JSONEq(t, tt.raw, string(ne.Data))
		})
	}
}

func TestEveryTypeHasAGoldenSample(t *testing.T) {
	s := samples()
	types := Registry.Types()
	sort.Strings(types)
	for _, typ := range types {
		assert.Contains(t, s, typ, "add a sample (and a golden file) for %s", typ)
	}
	assert.Len(t, s, len(types))
}

func TestGoldenPayloads(t *testing.T) {
	for typ, payload := range samples() {
		t.Run(typ, func(t *testing.T) {
			ne, err := Registry.New(payload)
			require.NoError(t, err)
			require.Equal(t, typ, ne.Type, "payload registered under its stable name")
			var pretty json.RawMessage
			require.NoError(t, json.Unmarshal(ne.Data, &pretty))
			got, err := json.MarshalIndent(pretty, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", typ+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./events/schema -update to create it")
			assert.JSONEq(t, string(want), string(got), "the stored form of %s changed: add a new schema version and an upcaster instead", typ)
			if a, ok := payload.(events.JSONAppender); ok {
				std, err := json.Marshal(payload)
				require.NoError(t, err)
				assert.Equal(t, string(std), string(a.AppendJSON(nil)), "AppendJSON writes what json.Marshal does")
			}

			// Decoding the golden bytes gives back the payload.
			back, err := Registry.Decode(events.Event{Type: typ, SchemaVersion: ne.SchemaVersion, Data: want})
			require.NoError(t, err)
			again, err := json.Marshal(back)
			require.NoError(t, err)
			assert.JSONEq(t, string(ne.Data), string(again))
			assert.Equal(t, reflect.TypeOf(payload), reflect.TypeOf(back))
		})
	}
}

// A name reservation stored before it carried a password verifier and a time
// (testdata/tenant.name_reserved.legacy.json, the form it had then) still decodes,
// with both new fields empty: they were added as optional fields, not a new
// schema version.
func TestLegacyNameReservationDecodes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "tenant.name_reserved.legacy.json"))
	require.NoError(t, err)
	p, err := Registry.Decode(events.Event{Type: tenant.TypeNameReserved, SchemaVersion: 1, Data: raw})
	require.NoError(t, err)
	assert.Equal(t, &tenant.NameReserved{Name: "acme", TenantID: "01a2-tenant", AdminEmail: "admin@acme.test", UserID: "01a2-user", Plan: "starter"}, p)

	// And a reservation without the new fields is stored in the old form.
	ne, err := Registry.New(&tenant.NameReserved{Name: "acme", TenantID: "01a2-tenant", AdminEmail: "admin@acme.test", UserID: "01a2-user", Plan: "starter"})
	require.NoError(t, err)
	assert.JSONEq(t, string(raw), string(ne.Data))
}

func decimalPtr(s string) *decimal.Decimal {
	d := decimal.RequireFromString(s)
	return &d
}

func intPtr(n int) *int { return &n }

func stringPtr(s string) *string { return &s }
