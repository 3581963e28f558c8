package commands_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain"
)

// FINDING: a keyed plan change that finds the tenant already on the plan
// answers 200 and records nothing under its key. The key is then free to mean
// another request (the same key moves the tenant to another plan: 200, not
// 422), and the retry of that first request, after someone else changed the
// plan, writes a plan change instead of answering what the first attempt
// answered (docs/api.md: "returns the status and body the first attempt
// returned and writes nothing, even if the resource has changed since").
// Live: PUT /plan {"plan":"free"} (already free) with Idempotency-Key K -> 200
// version 1; PUT /plan {"plan":"pro"} with K -> 200 version 2, plan pro.
func TestFindingNoOpPlanChangeDoesNotBindItsKey(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "noopplan") // on "starter"

	first := m
	first.IdempotencyKey, first.Fingerprint = "K", "plan=starter"
	got, err := f.svc.ChangePlan(f.ctx, first, tid, "starter")
	require.NoError(t, err)
	require.Equal(t, "starter", got.Plan)

	// Someone else (no key) moves the tenant to pro; the first request's retry
	// must not move it back.
	_, err = f.svc.ChangePlan(f.ctx, m, tid, "pro")
	require.NoError(t, err)
	_, err = f.svc.ChangePlan(f.ctx, first, tid, "starter")
	require.NoError(t, err)
	now, err := f.svc.GetTenant(f.ctx, m, tid)
	require.NoError(t, err)
	assert.Equal(t, "pro", now.Plan, "a retried keyed request wrote a plan change the first attempt never made")

	// The same key with another body is another request: 422.
	other := m
	other.IdempotencyKey, other.Fingerprint = "K", "plan=free"
	_, err = f.svc.ChangePlan(f.ctx, other, tid, "free")
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "key K was used for plan=starter; reusing it for plan=free must be 422")
}
