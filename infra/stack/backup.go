package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbackup"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"
)

// AWS Backup of both tables (docs/aws.md, "Backups, RPO and RTO"). Point-in-time
// recovery covers the last 35 days to the second; the daily backups are kept
// longer and outside the table's own recovery window, so a table deleted or
// damaged past PITR's reach can still be restored.
const (
	// BackupSchedule runs the daily backup at 03:00 UTC, after the 02:00 billing close.
	BackupSchedule = "cron(0 3 * * ? *)"
	// BackupRetentionDays is how long each daily recovery point is kept.
	BackupRetentionDays = 90
	// BackupStartWindowMins and BackupCompletionWindowMins bound a run.
	BackupStartWindowMins      = 60
	BackupCompletionWindowMins = 240
)

// backup creates the vault, the daily plan and its selection of both tables.
func (b *builder) backup() {
	vault := awsbackup.NewBackupVault(b.stack, jsii.String("BackupVault"), &awsbackup.BackupVaultProps{
		BackupVaultName: jsii.String(b.cfg.Prefix + "-tables"),
		// Recovery points outlive the stack by default, like the tables.
		RemovalPolicy: b.removalPolicy(),
	})
	plan := awsbackup.NewBackupPlan(b.stack, jsii.String("BackupPlan"), &awsbackup.BackupPlanProps{
		BackupPlanName:  jsii.String(b.cfg.Prefix + "-tables-daily"),
		BackupVault:     vault,
		BackupPlanRules: &[]awsbackup.BackupPlanRule{},
	})
	plan.AddRule(awsbackup.NewBackupPlanRule(&awsbackup.BackupPlanRuleProps{
		RuleName:           jsii.String("daily"),
		ScheduleExpression: awsevents.Schedule_Expression(jsii.String(BackupSchedule)),
		StartWindow:        awscdk.Duration_Minutes(jsii.Number(BackupStartWindowMins)),
		CompletionWindow:   awscdk.Duration_Minutes(jsii.Number(BackupCompletionWindowMins)),
		DeleteAfter:        awscdk.Duration_Days(jsii.Number(BackupRetentionDays)),
	}))
	selection := plan.AddSelection(jsii.String("Tables"), &awsbackup.BackupSelectionOptions{
		Resources: &[]awsbackup.BackupResource{
			awsbackup.BackupResource_FromDynamoDbTable(b.res.events),
			awsbackup.BackupResource_FromDynamoDbTable(b.res.readModels),
		},
	})
	// The role AWS Backup assumes gets AWS's service-role policy for backups (no
	// restores: a restore is an operator's, with their own credentials).
	suppressFinding(selection, "AwsSolutions-IAM4", "AWS Backup's own service-role policy, which AWS keeps in step with the calls a DynamoDB backup makes; the selection limits the plan to the two tables.",
		"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup")
	out(b.stack, "BackupVaultName", vault.BackupVaultName())
}
