package commands

import (
	"context"
	"encoding/json"

	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
)

// memberEmails maps each user id of the tenant to its email: how GET /me and
// the audit log name a user. It is the one place that knows where a tenant's
// members are listed, so that a roster can replace it without touching its
// callers: for now it pages the tenant's user.added events.
func (s *Service) memberEmails(ctx context.Context, tid events.TenantID) (map[string]string, error) {
	out := map[string]string{}
	var after events.Cursor
	for {
		p, err := s.Store.ReadTenant(ctx, tid, after, events.ReadOptions{Limit: 1000, Types: []string{tenant.TypeUserAdded}})
		if err != nil {
			return nil, storeError("read members", err)
		}
		for _, e := range p.Events {
			// Only the two fields: never decode the password hash into memory
			// that outlives the read.
			var u struct {
				UserID string `json:"user_id"`
				Email  string `json:"email"`
			}
			if e.Type != tenant.TypeUserAdded || json.Unmarshal(e.Data, &u) != nil || u.UserID == "" {
				continue
			}
			out[u.UserID] = u.Email
		}
		if !p.More || p.Next == after {
			return out, nil
		}
		after = p.Next
	}
}
