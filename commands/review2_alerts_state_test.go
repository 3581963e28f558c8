package commands_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
)

// FINDING: ConfigureAlerts skips requireWritable, so a suspended (or
// offboarding) tenant's admin still writes to its alerts stream.
func TestReview2SuspendedTenantCannotConfigureAlerts(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "acme")
	_, err := f.svc.SuspendTenant(f.ctx, alice, tid, "invoice 7 unpaid")
	require.NoError(t, err)
	capv := "1000.00"
	_, err = f.svc.ConfigureAlerts(f.ctx, m, tid, commands.AlertsRequest{Thresholds: []billing.Threshold{}, SpendCap: &capv})
	require.Error(t, err, "a suspended tenant must not write its alert configuration")
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))

	_, err = f.svc.OffboardTenant(f.ctx, alice, tid, "contract ended", false)
	require.NoError(t, err)
	_, err = f.svc.ConfigureAlerts(f.ctx, m, tid, commands.AlertsRequest{Thresholds: []billing.Threshold{}, SpendCap: &capv})
	require.Error(t, err, "an offboarding tenant must not write its alert configuration")
	assert.Equal(t, commands.ProblemTenantOffboarding, problemType(err))
}
