package stack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/infra/stack"
)

// TestBackupPlan: both tables are backed up daily by AWS Backup into the stack's
// vault and kept BackupRetentionDays (docs/aws.md, "Backups, RPO and RTO").
func TestBackupPlan(t *testing.T) {
	plans := shared.ofType("AWS::Backup::BackupPlan")
	require.Len(t, plans, 1)
	vault := shared.logicalID(t, "AWS::Backup::BackupVault", "BackupVault")
	assert.Equal(t, "Retain", shared.resources[vault].DeletionPolicy, "recovery points outlive the stack")
	var planID string
	for id, p := range plans {
		planID = id
		rules := p.Properties["BackupPlan"].(map[string]any)["BackupPlanRule"].([]any)
		require.Len(t, rules, 1)
		rule := rules[0].(map[string]any)
		assert.Equal(t, "cron(0 3 * * ? *)", rule["ScheduleExpression"], "daily")
		assert.Equal(t, stack.BackupSchedule, rule["ScheduleExpression"])
		assert.Equal(t, map[string]any{"DeleteAfterDays": float64(stack.BackupRetentionDays)}, rule["Lifecycle"])
		assert.GreaterOrEqual(t, stack.BackupRetentionDays, 35, "kept at least as long as PITR's window")
		assert.Equal(t, float64(stack.BackupStartWindowMins), rule["StartWindowMinutes"])
		assert.Equal(t, float64(stack.BackupCompletionWindowMins), rule["CompletionWindowMinutes"])
		assert.Equal(t, vault, refID(rule["TargetBackupVault"]))
	}
	selections := shared.ofType("AWS::Backup::BackupSelection")
	require.Len(t, selections, 1)
	for _, sel := range selections {
		assert.Equal(t, planID, refID(sel.Properties["BackupPlanId"]))
		resources := sel.Properties["BackupSelection"].(map[string]any)["Resources"].([]any)
		events := shared.logicalID(t, "AWS::DynamoDB::Table", "EventsTable")
		readModels := shared.logicalID(t, "AWS::DynamoDB::Table", "ReadModelsTable")
		assert.Len(t, resources, 2)
		for _, id := range []string{events, readModels} {
			assert.Contains(t, stringify(resources), id, "%s is backed up", id)
		}
	}
}
