package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/jsii-runtime-go"
)

// billingClose creates the monthly schedule of billing-close, the per-tenant queue
// it fans out to, and the worker that drains it with partial batch responses.
func (b *builder) billingClose() {
	closeFn, worker := b.res.fns[FnBillingClose], b.res.fns[FnBillingCloseWorker]

	closeDLQ := b.deadLetterQueue("BillingCloseDLQ", "billing-close")
	// AWS advises a visibility timeout of six times the consumer's timeout, so a
	// retried batch never overlaps a slow one.
	queue := b.queue("BillingCloseQueue", awscdk.Duration_Minutes(jsii.Number(6*2)), closeDLQ)
	b.res.closeQueue = queue
	queue.GrantSendMessages(closeFn)
	closeFn.AddEnvironment(jsii.String(EnvCloseQueueURL), queue.QueueUrl(), nil)
	worker.AddEventSource(awslambdaeventsources.NewSqsEventSource(queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(5),
		// Only failed tenants are retried (wire.CloseBatch lists them).
		ReportBatchItemFailures: jsii.Bool(true),
		// Bounds the load a close puts on the tables.
		MaxConcurrency: jsii.Number(5),
	}))

	// The schedule's dead-letter queue keeps invocations Scheduler could not
	// make; an asynchronous invocation that fails in the function is retried
	// twice by Lambda and then discarded unless the function has an on-failure
	// destination (docs/aws.md, "Delivery that cannot drop an event"), so it
	// gets one. The record there names the failed request; rerun the close
	// (idempotent) with `tenantstream billing close --backend dynamodb`.
	closeFailed := b.deadLetterQueue("BillingCloseFailedQueue", "billing-close-failed")
	closeFn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		OnFailure:     awslambdadestinations.NewSqsDestination(closeFailed),
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
	})
	b.res.asyncFns = append(b.res.asyncFns, namedFunction{id: FnBillingClose, fn: closeFn})

	scheduleDLQ := b.deadLetterQueue("BillingScheduleDLQ", "billing-schedule")
	// An own role, so the finding on the grant CDK makes (the function and its
	// versions, "<arn>:*") can be suppressed on it alone.
	scheduleRole := awsiam.NewRole(b.stack, jsii.String("BillingScheduleRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), nil),
		Description: jsii.String("Invokes billing-close on its schedule"),
	})
	awsscheduler.NewSchedule(b.stack, jsii.String("BillingCloseSchedule"), &awsscheduler.ScheduleProps{
		Description: jsii.String("Closes the previous billing period for every tenant"),
		Schedule:    awsscheduler.ScheduleExpression_Expression(jsii.String(b.cfg.BillingCloseSchedule), awscdk.TimeZone_Of(jsii.String(b.cfg.BillingCloseTimeZone))),
		Target: awsschedulertargets.NewLambdaInvoke(closeFn, &awsschedulertargets.ScheduleTargetBaseProps{
			Role:            scheduleRole,
			DeadLetterQueue: scheduleDLQ,
			RetryAttempts:   jsii.Number(3),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(6)),
		}),
	})
	// After the target made its grant: the suppression must reach the role's policy.
	suppressFinding(scheduleRole, "AwsSolutions-IAM5", "CDK grants invoke on the function and its versions (<arn>:*); the versions are the same function's code.",
		regex(`^Resource::<BillingClose[0-9A-F]{8}\.Arn>:\*$`))
	out(b.stack, "BillingCloseQueueUrl", queue.QueueUrl())
}
