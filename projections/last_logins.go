package projections

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// LastLogin is when a member last logged in.
type LastLogin struct {
	At time.Time `json:"at"`
}

// Names under which the last-logins projection keeps its read model.
const (
	LastLoginsProjection = "last_logins"
	// LastLoginsCollection holds one LastLogin per member of a tenant, keyed by user id.
	LastLoginsCollection = "last_login"
)

// LastLogins keeps each member's last login (a session.started) for the users
// list. Sessions are streams of their own, delivered in any interleaving, so it
// keeps the latest time it has seen rather than the last event it applied.
type LastLogins struct{}

func init() { Register(LastLogins{}) }

// Name implements Projection.
func (LastLogins) Name() string { return LastLoginsProjection }

// Handles implements Projection.
func (LastLogins) Handles() []string { return []string{member.TypeSessionStarted} }

// Apply implements Projection.
func (LastLogins) Apply(ctx context.Context, tx Tx, ev events.Event) error {
	s, err := events.DecodeAs[member.SessionStarted](schema.Registry, ev)
	if err != nil {
		return err
	}
	var cur LastLogin
	if raw, err := tx.Get(ctx, ev.TenantID, LastLoginsCollection, s.UserID); err == nil {
		if err := json.Unmarshal(raw, &cur); err != nil {
			return err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if !s.At.After(cur.At) {
		return nil
	}
	b, err := json.Marshal(LastLogin{At: s.At.UTC()})
	if err != nil {
		return err
	}
	return tx.Put(ctx, ev.TenantID, LastLoginsCollection, s.UserID, b)
}
