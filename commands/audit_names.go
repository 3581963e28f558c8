package commands

import (
	"context"

	"github.com/tenantstream/tenantstream/events"
)

// memberEmails maps each user id of the tenant to its email, removed members
// included: how GET /me and the audit log name a user. It reads the roster
// (decision 15), which the service caches, so it costs one small query.
func (s *Service) memberEmails(ctx context.Context, tid events.TenantID) (map[string]string, error) {
	r, err := s.roster(ctx, tid)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range r.Members() {
		out[m.UserID] = m.Email
	}
	return out, nil
}
