package commands

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Every registered event type has an audit allowlist, so a new type is looked
// at before the audit log shows it (with no details until then), and no
// allowlist names a field that holds a secret or a payload.
func TestAuditSpecsCoverEveryTypeAndNoSecretField(t *testing.T) {
	for _, typ := range schema.Registry.Types() {
		_, ok := auditSpecs[typ]
		assert.True(t, ok, "event type %q has no audit allowlist in auditSpecs", typ)
	}
	forbidden := []string{"password", "hash", "secret", "token", "verifier"}
	payloads := []string{"data", "records", "properties", "catalog", "invoice", "lines", "key"}
	for typ, spec := range auditSpecs {
		for _, f := range append([]string{spec.target}, spec.fields...) {
			for _, bad := range forbidden {
				assert.NotContains(t, f, bad, "%s allows %q", typ, f)
			}
			for _, bad := range payloads {
				assert.NotEqual(t, bad, f, "%s allows the payload %q", typ, f)
			}
		}
	}
}

// auditEntry of events that carry secrets and payloads shows neither; events
// whose data does not decode, or of an unknown type, are shown without details.
func TestAuditEntryDetails(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ev := func(t *testing.T, stream, streamType, actor string, payload any) events.Event {
		t.Helper()
		ne, err := schema.Registry.New(payload)
		require.NoError(t, err)
		return events.Event{ID: "e1", TenantID: "t1", StreamID: events.StreamID(stream), StreamType: streamType, Version: 3,
			Type: ne.Type, SchemaVersion: ne.SchemaVersion, RecordedAt: at, Actor: actor, Data: ne.Data}
	}
	raw := func(typ, data string) events.Event {
		return events.Event{ID: "e2", TenantID: "t1", StreamID: "s", StreamType: "st", Version: 1, Type: typ, SchemaVersion: 1, RecordedAt: at, Data: json.RawMessage(data)}
	}
	names := map[string]string{"u1": "a@acme.test", "key:k1": "ingest"}
	const secret = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
	tests := []struct {
		name       string
		event      events.Event
		actor      AuditActor
		target     AuditTarget
		details    string
		mustNotSee []string
	}{
		{"user.added", ev(t, "user-x", tenant.UserStreamType, "u1", &tenant.UserAdded{UserID: "u2", Email: "b@acme.test", PasswordHash: secret, Roles: []string{"tenant_member"}, At: at}),
			AuditActor{"user", "u1", "a@acme.test"}, AuditTarget{"user", "u2"}, `{"user_id":"u2","email":"b@acme.test","roles":["tenant_member"]}`, []string{secret, "password"}},
		{"user.claimed", ev(t, "userclaim-x", tenant.UserClaimStreamType, "u1", &tenant.UserClaimed{UserID: "u2", Role: "tenant_admin", PasswordHash: secret, At: at}),
			AuditActor{"user", "u1", "a@acme.test"}, AuditTarget{"user_claim", "u2"}, `{"user_id":"u2","role":"tenant_admin"}`, []string{secret}},
		{"tenant.name_reserved", ev(t, "name-acme", tenant.NameStreamType, "", &tenant.NameReserved{Name: "acme", TenantID: "t1", AdminEmail: "a@acme.test", UserID: "u1", Plan: "free", PasswordVerifier: secret, At: at}),
			AuditActor{"system", "", ""}, AuditTarget{"tenant_name", "acme"}, `{"tenant_name":"acme","tenant_id":"t1","admin_user_id":"u1","admin_email":"a@acme.test","plan":"free"}`, []string{secret, "verifier"}},
		{"api_key.created", ev(t, apikey.StreamID, apikey.StreamType, "u1", &apikey.Created{KeyID: "k1", Name: "ingest", Scopes: []string{"usage:write"}, SecretHash: "5f0e3d3c2a1b", CreatedAt: at}),
			AuditActor{"user", "u1", "a@acme.test"}, AuditTarget{"api_keys", "k1"}, `{"key_id":"k1","name":"ingest","scopes":["usage:write"],"created_at":"2026-03-01T09:00:00Z"}`, []string{"5f0e3d3c2a1b", "secret"}},
		{"item.put by a key", ev(t, "item-doc", item.StreamType, "key:k1", &item.Put{ItemID: "doc", Data: json.RawMessage(`{"card":"4242"}`), Size: 15, At: at}),
			AuditActor{"api_key", "k1", "ingest"}, AuditTarget{"item", "doc"}, `{"item_id":"doc","version":3}`, []string{"4242", "card", "size"}},
		{"usage.reported", ev(t, "usage-2026-03", metering.StreamType, "key:k1", &metering.Reported{Records: []metering.Recorded{
			{ID: "job-1", Meter: "b", Quantity: "1", Timestamp: at, Properties: map[string]string{"customer": "c-9"}},
			{ID: "job-2", Meter: "a", Quantity: "2", Timestamp: at}, {ID: "job-3", Meter: "b", Quantity: "3", Timestamp: at}}}),
			AuditActor{"api_key", "k1", "ingest"}, AuditTarget{"usage", "usage-2026-03"}, `{"records":3,"meters":["a","b"]}`, []string{"job-1", "c-9", "customer"}},
		{"usage.recorded by the meters", ev(t, "usage-2026-03", metering.StreamType, "platform", &metering.Recorded{ID: "api_requests/x", Meter: "api_requests", Quantity: "12", Timestamp: at}),
			AuditActor{"system", "platform", "platform"}, AuditTarget{"usage", "usage-2026-03"}, `{"records":1,"meters":["api_requests"]}`, []string{"api_requests/x"}},
		{"an unknown key's name", ev(t, apikey.StreamID, apikey.StreamType, "key:k9", &apikey.Revoked{KeyID: "k9", At: at}),
			AuditActor{"api_key", "k9", ""}, AuditTarget{"api_keys", "k9"}, `{"key_id":"k9"}`, nil},
		{"a future type, by name", raw("member.roles_changed", `{"user_id":"u3","roles":["tenant_admin"],"from":["tenant_member"],"password_hash":"x1","token":"t0k"}`),
			AuditActor{"system", "", ""}, AuditTarget{"st", "u3"}, `{"user_id":"u3","roles":["tenant_admin"],"from":["tenant_member"]}`, []string{"x1", "t0k"}},
		{"members.imported", raw("members.imported", `{"members":[{"user_id":"u4","email":"c@acme.test","roles":["tenant_member"]},{"user_id":"u5","email":"d@acme.test","roles":[]}]}`),
			AuditActor{"system", "", ""}, AuditTarget{"st", "s"}, `{"members":2}`, []string{"c@acme.test", "u4"}},
		{"login.failed", raw("login.failed", `{"email":"a@acme.test","reason":"bad_password","password":"hunter2"}`),
			AuditActor{"system", "", ""}, AuditTarget{"st", "s"}, `{"email":"a@acme.test","reason":"bad_password"}`, []string{"hunter2"}},
		{"a type without allowlist", raw("test.unknown", `{"secret":"s3"}`),
			AuditActor{"system", "", ""}, AuditTarget{"st", "s"}, `{}`, []string{"s3"}},
		{"data that does not decode", raw(item.TypePut, `[1,2]`),
			AuditActor{"system", "", ""}, AuditTarget{"st", "s"}, `{}`, nil},
		{"a schema newer than this build", func() events.Event { e := raw(item.TypePut, `{"item_id":"doc"}`); e.SchemaVersion = 9; return e }(),
			AuditActor{"system", "", ""}, AuditTarget{"st", "s"}, `{}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := auditEntry(tt.event, names)
			assert.Equal(t, tt.actor, got.Actor)
			assert.Equal(t, tt.target, got.Target)
			assert.Equal(t, tt.event.Type, got.Action)
			assert.Equal(t, at, got.At)
			b, err := json.Marshal(got.Details)
			require.NoError(t, err)
			assert.JSONEq(t, tt.details, string(b))
			all, err := json.Marshal(got)
			require.NoError(t, err)
			for _, s := range tt.mustNotSee {
				assert.False(t, strings.Contains(string(all), s), "the entry shows %q: %s", s, all)
			}
		})
	}
}
