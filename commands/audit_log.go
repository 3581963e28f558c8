package commands

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// AuditPage is a page of GET /tenants/{tenant_id}/audit-log: one entry per
// event of the tenant, in the events log's order and with its cursors.
type AuditPage struct {
	Entries    []AuditEntry `json:"entries"`
	NextCursor string       `json:"next_cursor"`
	More       bool         `json:"more"`
}

// AuditEntry is one event as the audit log shows it: who did what, to what,
// when. Details holds only the fields auditSpecs allows for the event's type.
type AuditEntry struct {
	ID      string                     `json:"id"`
	At      time.Time                  `json:"at"`
	Action  string                     `json:"action"`
	Actor   AuditActor                 `json:"actor"`
	Target  AuditTarget                `json:"target"`
	Details map[string]json.RawMessage `json:"details"`
}

// AuditActor is who caused an event: a user (named by email), an API key
// (named by its name) or the platform itself (billing, metering, an operator).
type AuditActor struct {
	Type string `json:"type"` // PrincipalUser, PrincipalAPIKey or PrincipalSystem
	ID   string `json:"id"`
	Name string `json:"name"`
}

// AuditTarget is what an event changed: its stream's type, and the stream's id
// or a better one from the data (the item, key, user or invoice id).
type AuditTarget struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// systemActors are the actors the platform records for its own work: none,
// the billing close ("billing", Billing.issue), the built-in meters'
// flushes ("platform", Meter) and operator commands ("operator": the price
// book, tenants migrate).
var systemActors = map[string]bool{"": true, "billing": true, "platform": true, "operator": true}

// keyActorPrefix starts the actor of what an API key does (VerifyAPIKey).
const keyActorPrefix = "key:"

// auditSpec says how the audit log shows one event type. Details are built
// only from fields (an allowlist: a field not named is never shown, so a
// secret added to an event later stays out) and from extra, which computes
// summaries (a version, a count) and never copies a payload.
type auditSpec struct {
	// target is the data (or details) field holding the target's id; "" uses
	// the stream id.
	target string
	// tenantTarget makes the tenant id the target's id (the tenant profile).
	tenantTarget bool
	fields       []string
	extra        func(e events.Event, data map[string]json.RawMessage) map[string]json.RawMessage
}

// auditSpecs is the allowlist of every event type a tenant's history can hold.
// A type without an entry is shown with no details. Type names are strings so
// that types another package adds later (members, sessions, invitations)
// are listed before they exist.
var auditSpecs = map[string]auditSpec{
	// domain/tenant. Never password_hash (user.added, user.claimed) nor
	// password_verifier (tenant.name_reserved).
	tenant.TypeOnboarded:          {target: "tenant_id", fields: []string{"tenant_name", "plan", "plan_version", "admin_user_id", "admin_email"}},
	tenant.TypePlanChanged:        {tenantTarget: true, fields: []string{"from", "to", "plan_version"}},
	tenant.TypeNameReserved:       {target: "tenant_name", fields: []string{"tenant_name", "tenant_id", "admin_user_id", "admin_email", "plan"}},
	tenant.TypeReservationExpired: {tenantTarget: true, fields: []string{"tenant_name"}},
	tenant.TypeDataErased:         {tenantTarget: true, fields: []string{"at"}},
	tenant.TypeUserAdded:          {target: "user_id", fields: []string{"user_id", "email", "roles"}},
	tenant.TypeUserClaimed:        {target: "user_id", fields: []string{"user_id", "role"}},
	// The lifecycle (docs/lifecycle.md): the reason, never whom it notified.
	tenant.TypeSuspended:          {tenantTarget: true, fields: []string{"reason"}},
	tenant.TypeReactivated:        {tenantTarget: true, fields: []string{"reason"}},
	tenant.TypeOffboardingStarted: {tenantTarget: true, fields: []string{"reason", "erase"}},
	tenant.TypeErased:             {tenantTarget: true, fields: []string{"reason"}},
	// domain/apikey. Never secret_hash.
	apikey.TypeRegistered: {target: "key_id", fields: []string{"key_id", "tenant_id"}},
	apikey.TypeCreated:    {target: "key_id", fields: []string{"key_id", "name", "scopes", "created_at", "expires_at"}},
	apikey.TypeRevoked:    {target: "key_id", fields: []string{"key_id"}},
	// Items: the id and the version, never the data.
	item.TypePut:     {target: "item_id", fields: []string{"item_id"}, extra: withVersion},
	item.TypeDeleted: {target: "item_id", fields: []string{"item_id"}, extra: withVersion},
	// Usage: how many records and of which meters, never the records (their
	// ids and properties are the tenant's data).
	metering.TypeRecorded:       {extra: usageSummary},
	metering.TypeReported:       {extra: usageSummary},
	metering.TypeReportAnswered: {fields: []string{"accepted", "duplicates"}},
	metering.TypeReportClaimed:  {},
	// Billing and the catalogue: the invoice's header, not its lines.
	billing.TypeInvoiceIssued:    {target: "invoice_id", extra: invoiceSummary},
	billing.TypeCatalogPublished: {fields: []string{"created"}, extra: withVersion},
	// Entitlements (docs/billing.md, "Entitlements"): an operator's override, a notify limit passed.
	billing.TypeEntitlementOverridden: {target: "feature", fields: []string{"feature", "action", "limit", "reason"}},
	billing.TypeLimitPassed:           {target: "feature", fields: []string{"feature", "meter", "period", "limit", "used", "plan"}},
	// Credits: the grant's terms; an application's allocations, not the invoice copy it carries.
	billing.TypeCreditGranted: {target: "grant_id", fields: []string{"grant_id", "amount", "currency", "priority", "kind", "effective_at", "expires_at", "reason"}},
	billing.TypeCreditVoided:  {target: "grant_id", fields: []string{"grant_id", "amount", "reason"}},
	billing.TypeCreditApplied: {target: "invoice_id", fields: []string{"invoice_id", "period", "total_before_credits", "allocations"}},
	// Alerts (docs/billing.md, "Alerts and spend caps"): a configuration, an alert.
	billing.TypeAlertsConfigured: {fields: []string{"thresholds", "spend_cap"}},
	billing.TypeThresholdReached: {target: "threshold_id", fields: []string{"threshold_id", "kind", "meter", "value", "reached", "currency", "period", "source"}},

	// Members, sessions, invitations and password resets (issue 14), by name.
	"member.added":             {target: "user_id", fields: []string{"user_id", "email", "roles"}},
	"member.roles_changed":     {target: "user_id", fields: []string{"user_id", "roles", "from"}},
	"member.removed":           {target: "user_id", fields: []string{"user_id"}},
	"member.password_changed":  {target: "user_id", fields: []string{"user_id", "reason"}},
	"session.started":          {target: "session_id", fields: []string{"session_id", "user_id"}},
	"session.refreshed":        {target: "session_id", fields: []string{"session_id"}},
	"session.revoked":          {target: "session_id", fields: []string{"session_id", "reason"}},
	"login.failed":             {fields: []string{"email", "reason"}},
	"invitation.created":       {target: "invitation_id", fields: []string{"invitation_id", "email", "roles", "expires_at"}},
	"invitation.accepted":      {target: "invitation_id", fields: []string{"invitation_id", "user_id"}},
	"invitation.revoked":       {target: "invitation_id", fields: []string{"invitation_id"}},
	"password_reset.requested": {target: "reset_id", fields: []string{"reset_id", "user_id"}},
	"password_reset.completed": {target: "reset_id", fields: []string{"reset_id", "user_id"}},
	// A roster import: how many members, not who (each is a member.added's worth).
	"members.imported": {extra: countOf("members")},
}

func rawJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v) // numbers, strings and string slices: cannot fail
	return b
}

// withVersion adds the event's stream version: an item's version (its ETag),
// the catalogue's version.
func withVersion(e events.Event, _ map[string]json.RawMessage) map[string]json.RawMessage {
	return map[string]json.RawMessage{"version": rawJSON(e.Version)}
}

// usageSummary counts a usage event's records and lists their meters.
func usageSummary(e events.Event, data map[string]json.RawMessage) map[string]json.RawMessage {
	type record struct {
		Meter string `json:"meter"`
	}
	var recs []record
	if e.Type == metering.TypeRecorded {
		var r record
		if json.Unmarshal(e.Data, &r) != nil {
			return nil
		}
		recs = []record{r}
	} else if raw, ok := data["records"]; !ok || json.Unmarshal(raw, &recs) != nil {
		return nil
	}
	meters := []string{}
	for _, r := range recs {
		if !slices.Contains(meters, r.Meter) {
			meters = append(meters, r.Meter)
		}
	}
	slices.Sort(meters)
	return map[string]json.RawMessage{"records": rawJSON(len(recs)), "meters": rawJSON(meters)}
}

// countOf counts the elements of the array field name, shown as that field.
func countOf(name string) func(events.Event, map[string]json.RawMessage) map[string]json.RawMessage {
	return func(_ events.Event, data map[string]json.RawMessage) map[string]json.RawMessage {
		var elems []json.RawMessage
		if json.Unmarshal(data[name], &elems) != nil {
			return nil
		}
		return map[string]json.RawMessage{name: rawJSON(len(elems))}
	}
}

// invoiceSummary is an issued invoice's header: its id, number, period,
// currency and subtotal.
func invoiceSummary(_ events.Event, data map[string]json.RawMessage) map[string]json.RawMessage {
	var inv map[string]json.RawMessage
	if json.Unmarshal(data["invoice"], &inv) != nil {
		return nil
	}
	return pick(inv, []string{"invoice_id", "number", "period", "currency", "subtotal"})
}

// pick copies the named fields of data that it holds.
func pick(data map[string]json.RawMessage, fields []string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, f := range fields {
		if v, ok := data[f]; ok {
			out[f] = v
		}
	}
	return out
}

// AuditLog returns a page of the tenant's audit log (tenant_admin only; API
// keys are refused): its events in the events log's order, paged with the
// events log's sealed cursors, each shown as who did what.
func (s *Service) AuditLog(ctx context.Context, m Meta, tenantID string, after events.Cursor, limit int) (AuditPage, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return AuditPage{}, err
	}
	if m.Principal.KeyID != "" {
		return AuditPage{}, domain.Errorf(domain.CodeForbidden, "API keys cannot read the audit log; use a tenant admin's token")
	}
	if err := s.requireRole(ctx, m, tid, identity.RoleTenantAdmin); err != nil {
		return AuditPage{}, err
	}
	page, err := s.eventLogPage(ctx, tid, after, limit)
	if err != nil {
		return AuditPage{}, err
	}
	names, err := s.actorNames(ctx, tid, page.Events)
	if err != nil {
		return AuditPage{}, err
	}
	out := AuditPage{Entries: make([]AuditEntry, 0, len(page.Events)), NextCursor: string(page.Next), More: page.More}
	for _, e := range page.Events {
		out.Entries = append(out.Entries, auditEntry(e, names))
	}
	return out, nil
}

// actorNames names the actors of evs: each API key by its name (one fold of
// the api-keys stream) and each user by its email (memberEmails), each read
// once and only when the page has such an actor. Revoked keys keep their name.
func (s *Service) actorNames(ctx context.Context, tid events.TenantID, evs []events.Event) (map[string]string, error) {
	var keys, users bool
	for _, e := range evs {
		switch {
		case strings.HasPrefix(e.Actor, keyActorPrefix):
			keys = true
		case !systemActors[e.Actor] && !strings.HasPrefix(e.Actor, identity.OperatorActorPrefix):
			users = true
		}
	}
	names := map[string]string{}
	if keys {
		ks, _, err := s.loadKeys(ctx, tid)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			names[keyActorPrefix+k.created.KeyID] = k.created.Name
		}
	}
	if users {
		emails, err := s.memberEmails(ctx, tid)
		if err != nil {
			return nil, err
		}
		for id, email := range emails {
			if !strings.HasPrefix(id, keyActorPrefix) {
				names[id] = email
			}
		}
	}
	return names, nil
}

// auditEntry shows one event. It never fails: an event whose data does not
// decode is shown without details.
func auditEntry(e events.Event, names map[string]string) AuditEntry {
	out := AuditEntry{ID: e.ID, At: e.RecordedAt.UTC(), Action: e.Type, Details: map[string]json.RawMessage{},
		Target: AuditTarget{Type: e.StreamType, ID: string(e.StreamID)}}
	switch {
	case strings.HasPrefix(e.Actor, keyActorPrefix):
		out.Actor = AuditActor{Type: PrincipalAPIKey, ID: strings.TrimPrefix(e.Actor, keyActorPrefix), Name: names[e.Actor]}
	case systemActors[e.Actor]:
		out.Actor = AuditActor{Type: PrincipalSystem, ID: e.Actor, Name: e.Actor}
	case strings.HasPrefix(e.Actor, identity.OperatorActorPrefix):
		// A platform operator (docs/lifecycle.md): the platform's, named.
		out.Actor = AuditActor{Type: PrincipalSystem, ID: e.Actor, Name: e.Actor}
	default:
		out.Actor = AuditActor{Type: PrincipalUser, ID: e.Actor, Name: names[e.Actor]}
	}
	spec, ok := auditSpecs[e.Type]
	if !ok {
		return out
	}
	if up, err := schema.Registry.Upcast(e); err == nil {
		e = up
	} else if !errors.Is(err, events.ErrUnknownType) {
		return out // a schema this build cannot read: no details rather than wrong ones
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(e.Data, &data) != nil {
		return out
	}
	out.Details = pick(data, spec.fields)
	if spec.extra != nil {
		for k, v := range spec.extra(e, data) {
			out.Details[k] = v
		}
	}
	switch {
	case spec.tenantTarget:
		out.Target.ID = string(e.TenantID)
	case spec.target != "":
		raw, ok := data[spec.target]
		if !ok {
			raw = out.Details[spec.target]
		}
		var id string
		if json.Unmarshal(raw, &id) == nil && id != "" {
			out.Target.ID = id
		}
	}
	return out
}

// eventLogPage reads a page of the tenant's history for the events log and the
// audit log: after is an API cursor (sealed for the tenant; "" starts at the
// beginning), limit is 1..1000 (anything else is 100), and the page's Next is
// sealed again.
func (s *Service) eventLogPage(ctx context.Context, tid events.TenantID, after events.Cursor, limit int) (events.Page, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var from events.Cursor
	if after != "" {
		var err error
		if from, err = s.cursors().Open(tid, string(after)); err != nil {
			return events.Page{}, domain.FieldError("after", "invalid cursor")
		}
	}
	page, err := s.readEventLog(ctx, tid, from, limit)
	if errors.Is(err, events.ErrInvalidCursor) {
		return events.Page{}, domain.FieldError("after", "invalid cursor")
	}
	if err != nil {
		return events.Page{}, storeError("read events", err)
	}
	page.Next = events.Cursor(s.cursors().Seal(tid, page.Next))
	return page, nil
}
