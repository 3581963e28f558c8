package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Notification is one message the platform sends: an onboarding, an invoice,
// an invitation or a password reset. The outbox never holds the one-time
// token an invitation or a reset carries: the dispatcher adds it as it
// delivers (notify.Dispatcher.Enrich, commands.Service.EnrichNotification),
// so no read model and no event holds a usable token.
type Notification struct {
	ID        string          `json:"id"` // the event id, so receivers can deduplicate
	Type      string          `json:"type"`
	TenantID  string          `json:"tenant_id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Names under which the outbox projection keeps its read model.
const (
	OutboxProjection = "outbox"
	// OutboxCollection holds pending and sent notifications under PlatformTenant,
	// keyed by OutboxKey so a dispatcher can walk them in commit order.
	OutboxCollection = "outbox"
)

// OutboxKey orders notifications by the store position of their event where the
// store has positions (SQLite): positions become visible in increasing order, so
// a dispatcher walking keys after its cursor never skips one, even if a clock
// steps back. Without positions (DynamoDB, where notifications go to SNS as the
// projector applies them) the key is the recording time, then the id.
func OutboxKey(ev events.Event) string {
	if ev.Position > 0 {
		return fmt.Sprintf("p%019d/%s", ev.Position, ev.ID)
	}
	return "t" + ev.RecordedAt.UTC().Format("20060102T150405.000000000Z") + "/" + ev.ID
}

// Outbox turns events that users must hear about into notifications; the
// dispatcher delivers them. Each notification stands alone, so order is irrelevant.
type Outbox struct{}

func init() { Register(Outbox{}) }

// Name implements Projection.
func (Outbox) Name() string { return OutboxProjection }

// Handles implements Projection.
func (Outbox) Handles() []string {
	return []string{tenant.TypeOnboarded, billing.TypeInvoiceIssued, member.TypeInvitationCreated, member.TypeResetRequested, billing.TypeLimitPassed,
		tenant.TypeSuspended, tenant.TypeReactivated, billing.TypeThresholdReached}
}

// Apply implements Projection.
func (Outbox) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	p, err := schema.Registry.Decode(ev)
	if err != nil {
		return err
	}
	var data any
	switch e := p.(type) {
	case *tenant.Onboarded:
		data = map[string]any{"tenant_name": e.Name, "plan": e.Plan, "admin_email": e.AdminEmail, "admin_user_id": e.AdminUserID}
	case *billing.Issued:
		data = e.Invoice
	case *member.InvitationCreated:
		data = map[string]any{"invitation_id": e.InvitationID, "email": e.Email, "roles": e.Roles, "expires_at": e.ExpiresAt.UTC()}
	case *billing.LimitPassed:
		data = e // a notify feature's usage passed its limit (once per period)
	case *tenant.Suspended:
		// To the tenant's admins as the suspension found them (the event
		// carries them, so this needs no other stream).
		data = map[string]any{"reason": e.Reason, "to": nonNil(e.Notify), "at": e.At.UTC()}
	case *tenant.Reactivated:
		data = map[string]any{"reason": e.Reason, "to": nonNil(e.Notify), "at": e.At.UTC()}
	case *billing.ThresholdReached:
		data = e // a usage alert (once per period and threshold)
	case *member.ResetRequested:
		data = map[string]any{"reset_id": e.ResetID, "user_id": e.UserID, "email": e.Email, "expires_at": e.ExpiresAt.UTC()}
	default:
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	n := Notification{ID: ev.ID, Type: ev.Type, TenantID: string(ev.TenantID), CreatedAt: ev.RecordedAt, Data: raw}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return tx.Put(ctx, PlatformTenant, OutboxCollection, OutboxKey(ev), b)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
