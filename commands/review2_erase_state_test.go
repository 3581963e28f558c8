package commands_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/tenant"
)

// FINDING: EraseTenant (tenantstream tenants erase) records tenant.data_erased,
// which tenant.Tenant.Apply ignores, so the lifecycle state stays "active":
// requireWritable/requireReadable let the erased tenant's principals go on
// writing every event type stored in clear (item deletes, plan changes), and
// reads answer redacted nulls as if they were data.
func TestReview2ErasedByCLITenantIsNotWritable(t *testing.T) {
	f, sealed := sealedFixture(t)
	victim, admin := f.onboard(t, "victim")
	_, err := f.svc.PutItem(f.ctx, admin, commands.PutItem{Tenant: victim, ItemID: "doc", Data: json.RawMessage(`{"secret":"victim"}`)})
	require.NoError(t, err)
	_, err = f.svc.EraseTenant(f.ctx, platformAdmin, victim, sealed)
	require.NoError(t, err)

	got, err := f.svc.GetTenant(f.ctx, platformAdmin, victim)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusErased, got.State(), "an erased tenant's state")

	_, err = f.svc.GetItem(f.ctx, admin, victim, "doc")
	assert.Error(t, err, "reading an erased tenant's item must be refused, not answered with nulls")
	err = f.svc.DeleteItem(f.ctx, admin, victim, "doc", commands.Precondition{})
	assert.Error(t, err, "an erased tenant must not delete items")
	_, err = f.svc.ChangePlan(f.ctx, admin, victim, "pro")
	assert.Error(t, err, "an erased tenant must not change its plan (and be billed on)")
}
