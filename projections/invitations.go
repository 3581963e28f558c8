package projections

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// PendingInvitation is an invitation not yet accepted or revoked, as the
// invitations list shows it. It never holds the accept token: the token is
// derived when a notification is delivered and is stored nowhere.
type PendingInvitation struct {
	InvitationID string    `json:"invitation_id"`
	Email        string    `json:"email"`
	Roles        []string  `json:"roles"`
	ExpiresAt    time.Time `json:"expires_at"`
	CreatedAt    time.Time `json:"created_at"`
}

// Names under which the invitations projection keeps its read model.
const (
	InvitationsProjection = "invitations"
	// InvitationsCollection holds one PendingInvitation per invitation of a
	// tenant not accepted or revoked (expired ones included: the reader
	// filters them with its clock), keyed by invitation id, a UUIDv7, so the
	// keys are in creation order.
	InvitationsCollection = "pending"
)

// Invitations is the index the invitations list reads. Each invitation is a
// stream of its own, and the engine applies a stream's events in version order
// (a gap is filled from the store), so an acceptance or a revocation is always
// applied after its invitation's creation: it deletes the entry the creation
// put, and a redelivered creation is skipped as an older version.
type Invitations struct{}

func init() { Register(Invitations{}) }

// Name implements Projection.
func (Invitations) Name() string { return InvitationsProjection }

// Handles implements Projection.
func (Invitations) Handles() []string {
	return []string{member.TypeInvitationCreated, member.TypeInvitationAccepted, member.TypeInvitationRevoked}
}

// Apply implements Projection.
func (Invitations) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	p, err := schema.Registry.Decode(ev)
	if err != nil {
		return err
	}
	switch e := p.(type) {
	case *member.InvitationCreated:
		b, err := json.Marshal(PendingInvitation{InvitationID: e.InvitationID, Email: e.Email, Roles: slices.Clone(e.Roles),
			ExpiresAt: e.ExpiresAt.UTC(), CreatedAt: e.At.UTC()})
		if err != nil {
			return err
		}
		return tx.Put(ctx, ev.TenantID, InvitationsCollection, e.InvitationID, b)
	case *member.InvitationAccepted:
		return tx.Delete(ctx, ev.TenantID, InvitationsCollection, e.InvitationID)
	case *member.InvitationRevoked:
		return tx.Delete(ctx, ev.TenantID, InvitationsCollection, e.InvitationID)
	}
	return nil
}
