package stack

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/projections"
)

// EMF metrics the functions write (namespace MetricsNamespace; docs/deploy.md).
const (
	MetricEventsAppended = "EventsAppended"       // count, no dimensions
	MetricProjectionLag  = "ProjectionLagSeconds" // recorded_at to commit, dimension Projection
	MetricInvoicesIssued = "InvoicesIssued"       // count, no dimensions
	DimProjection        = "Projection"
)

// Alarm thresholds. Metric names and dimensions are AWS's documented ones
// (docs/aws.md, "Alarms", cites the pages); each alarm is asserted in ops_test.go.
const (
	// ErrorRatePercent over ErrorRatePeriods five-minute periods in a row raises a
	// function's errors alarm: a retried failure (a conflict, a throttle the SDK
	// rides out, one bad batch) is an error or two, not a quarter hour of them.
	ErrorRatePercent = 5
	ErrorRatePeriods = 3
	// API5xxRatePercent of the API's requests answered 5xx in two five-minute
	// periods in a row, counted only over periods with at least API5xxMinRequests.
	API5xxRatePercent = 5
	API5xxMinRequests = 20
	// TransactionConflictsPerPeriod in each of three five-minute periods: conflicts
	// are routine (racing appends retry, a duplicated projector batch conflicts and
	// is redelivered); a sustained stream of them means a hot key.
	TransactionConflictsPerPeriod = 100
	// ThrottledMinutes in a row with any throttled request: the SDK retries a burst;
	// throttling that lasts is a hot partition or a table at its limit.
	ThrottledMinutes = 3
	// ProjectionQueueAgeAlarmSecs: the oldest message of a projection queue older
	// than two visibility timeouts (it failed at least twice, or the backlog is that
	// deep), five minutes in a row. The queue's "iterator age".
	ProjectionQueueAgeAlarmSecs = 2 * ProjectionVisibilitySecs
	ProjectionQueueAgeMinutes   = 5
)

// throttleOperations are the operations whose ThrottledRequests the table alarms
// sum: every call the functions, the CLI and the pipe (GetRecords) make. An alarm
// takes at most 10 metrics.
var throttleOperations = []awsdynamodb.Operation{
	awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_BATCH_GET_ITEM, awsdynamodb.Operation_QUERY,
	awsdynamodb.Operation_SCAN, awsdynamodb.Operation_PUT_ITEM, awsdynamodb.Operation_UPDATE_ITEM,
	awsdynamodb.Operation_DELETE_ITEM, awsdynamodb.Operation_BATCH_WRITE_ITEM,
	awsdynamodb.Operation_TRANSACT_WRITE_ITEMS, awsdynamodb.Operation_GET_RECORDS,
}

type alarmSpec struct {
	id, description string
	metric          awscloudwatch.IMetric
	threshold       float64
	// periods evaluated, of which datapoints (0: all) must breach.
	periods, datapoints float64
}

// operations creates the alarms (to the ops topic) and the dashboard.
func (b *builder) operations(pipeName string, registered []projections.Projection) {
	action := awscloudwatchactions.NewSnsAction(b.res.ops)
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	five := awscdk.Duration_Minutes(jsii.Number(5))
	alarmOf := func(a alarmSpec) {
		props := &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(a.description),
			Metric:             a.metric,
			Threshold:          jsii.Number(a.threshold),
			EvaluationPeriods:  jsii.Number(a.periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// No data means nothing failed (error metrics are sparse).
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}
		if a.datapoints > 0 {
			props.DatapointsToAlarm = jsii.Number(a.datapoints)
		}
		awscloudwatch.NewAlarm(b.stack, jsii.String(a.id), props).AddAlarmAction(action)
	}
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64, periods float64) {
		alarmOf(alarmSpec{id: id, description: description, metric: metric, threshold: threshold, periods: periods})
	}

	// SQS ApproximateNumberOfMessagesVisible, dimension QueueName ("Available
	// CloudWatch metrics for Amazon SQS"): every dead-letter queue, the
	// projections' among them, alarms on its first message.
	for _, d := range b.res.dlqs {
		alarm("DLQAlarm-"+d.name, "Messages in the "+d.name+" dead-letter queue: inspect and redrive them (docs/aws.md, Redrive runbook)",
			d.queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}), 0, 1)
	}
	// SQS ApproximateAgeOfOldestMessage, dimension QueueName: how far behind a
	// projection's queue is, as the iterator age is for a stream consumer.
	for _, name := range sortedKeys(b.res.projectionQueues) {
		alarmOf(alarmSpec{id: "QueueAgeAlarm-projection-" + name,
			description: "The oldest message of the " + name + " projection queue waits too long: a failing event or a backlog (docs/aws.md, Runbooks: a stuck projection)",
			metric:      b.res.projectionQueues[name].MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}),
			threshold:   ProjectionQueueAgeAlarmSecs, periods: ProjectionQueueAgeMinutes})
	}

	fns := b.allFunctions()
	for _, f := range fns {
		// Lambda Errors and Invocations, dimension FunctionName ("Types of
		// metrics for Lambda functions": the error rate is Errors divided by
		// Invocations). No invocations, no data: not breaching.
		alarmOf(alarmSpec{id: "ErrorsAlarm-" + f.id,
			description: fmt.Sprintf("The %s function fails more than %d%% of its invocations for %d five-minute periods in a row", f.id, ErrorRatePercent, ErrorRatePeriods),
			metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
				Expression: jsii.String("IF(invocations > 0, 100 * errors / invocations, 0)"),
				UsingMetrics: &map[string]awscloudwatch.IMetric{
					"errors":      f.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
					"invocations": f.fn.MetricInvocations(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
				},
				Period: five, Label: jsii.String(f.id + " error rate (%)"),
			}),
			threshold: ErrorRatePercent, periods: ErrorRatePeriods})
		alarm("ThrottlesAlarm-"+f.id, "The "+f.id+" function is throttled",
			f.fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), 0, 1)
	}
	// Lambda AsyncEventsDropped, dimension FunctionName ("Types of metrics for
	// Lambda functions", asynchronous invocation metrics): events Lambda dropped
	// without running the function successfully, after sending them to the
	// on-failure destination if it could.
	for _, f := range b.res.asyncFns {
		alarm("AsyncEventsDroppedAlarm-"+f.id, "Lambda dropped asynchronous invocations of the "+f.id+" function (docs/aws.md, Delivery that cannot drop an event)",
			f.fn.Metric(jsii.String("AsyncEventsDropped"), &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), 0, 1)
	}

	// DynamoDB ThrottledRequests (dimensions TableName and Operation) and
	// TransactionConflict (dimension TableName), "DynamoDB Metrics and
	// dimensions" and "CloudWatch throttling metrics".
	for _, t := range []struct {
		name  string
		table awsdynamodb.ITable
	}{{"events", b.res.events}, {"readmodels", b.res.readModels}} {
		alarmOf(alarmSpec{id: "ThrottledRequestsAlarm-" + t.name,
			description: fmt.Sprintf("Requests to the %s table are throttled %d minutes in a row: a hot partition or the table's limit (docs/aws.md, Runbooks: a hot tenant)", t.name, ThrottledMinutes),
			metric: t.table.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{
				Operations: &throttleOperations, Period: minute, Statistic: jsii.String("Sum"),
			}),
			threshold: 0, periods: ThrottledMinutes})
		alarmOf(alarmSpec{id: "TransactionConflictAlarm-" + t.name,
			description: fmt.Sprintf("More than %d transaction conflicts per 5 minutes on the %s table for 15 minutes: a hot key (docs/aws.md, Runbooks: a hot tenant)", TransactionConflictsPerPeriod, t.name),
			metric:      t.table.Metric(jsii.String("TransactionConflict"), &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			threshold:   TransactionConflictsPerPeriod, periods: 3})
	}

	// API Gateway (HTTP API) 5xx and Count, dimension ApiId ("Monitor
	// CloudWatch metrics for HTTP APIs in API Gateway").
	apiSum := func(name string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/ApiGateway"), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"ApiId": b.res.httpAPI.ApiId()},
			Period:        five, Statistic: jsii.String("Sum"),
		})
	}
	alarmOf(alarmSpec{id: "Api5xxRateAlarm",
		description: fmt.Sprintf("More than %d%% of the API's requests answered 5xx for 10 minutes", API5xxRatePercent),
		metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String(fmt.Sprintf("IF(requests >= %d, 100 * FILL(errors, 0) / requests, 0)", API5xxMinRequests)),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"errors": apiSum("5xx"), "requests": apiSum("Count")},
			Period:       five, Label: jsii.String("API 5xx rate (%)"),
		}),
		threshold: API5xxRatePercent, periods: 2})

	pipeMetric := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/EventBridge/Pipes"), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"PipeName": jsii.String(pipeName)},
			Period:        minute, Statistic: jsii.String("Sum"),
		})
	}
	feedMetrics := []awscloudwatch.IMetric{pipeMetric("EventCount"), pipeMetric("ExecutionFailed"), pipeMetric("TargetStageFailed")}
	if b.res.pipe != nil {
		alarm("PipeExecutionFailedAlarm", "The change-feed pipe failed executions", pipeMetric("ExecutionFailed"), 0, 1)
		alarm("PipeTargetFailedAlarm", "The change-feed pipe could not put events on the bus", pipeMetric("TargetStageFailed"), 0, 1)
	}
	if b.res.stream != nil {
		b.kinesisAlarms(alarmOf)
		feedMetrics = b.kinesisFeedMetrics()
	}

	lag := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(MetricsNamespace), MetricName: jsii.String(MetricProjectionLag),
			DimensionsMap: &map[string]*string{DimProjection: jsii.String(name)},
			Period:        minute, Statistic: jsii.String("Maximum"),
		})
	}
	for _, p := range registered {
		alarm("ProjectionLagAlarm-"+p.Name(), "The "+p.Name()+" projection lags behind the store",
			lag(p.Name()), b.cfg.ProjectionLagAlarmSeconds, 3)
	}

	b.dashboard(fns, registered, lag, feedMetrics)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type namedFunction struct {
	id string
	fn awslambda.Function
}

// allFunctions lists the functions in a stable order, so construct ids and the
// dashboard do not change between syntheses.
func (b *builder) allFunctions() []namedFunction {
	var out []namedFunction
	for _, id := range []string{FnAPI, FnBillingClose, FnBillingCloseWorker, FnPreToken} {
		out = append(out, namedFunction{id: id, fn: b.res.fns[id]})
	}
	names := make([]string, 0, len(b.res.projectors))
	for n := range b.res.projectors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, namedFunction{id: "projector-" + n, fn: b.res.projectors[n]})
	}
	return out
}

func (b *builder) dashboard(fns []namedFunction, registered []projections.Projection,
	lag func(string) awscloudwatch.Metric, feedMetrics []awscloudwatch.IMetric) {
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	apiMetric := func(name, stat, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/ApiGateway"), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"ApiId": b.res.httpAPI.ApiId()},
			Period:        minute, Statistic: jsii.String(stat), Label: jsii.String(label),
		})
	}
	emf := func(name, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(MetricsNamespace), MetricName: jsii.String(name),
			Period: minute, Statistic: jsii.String("Sum"), Label: jsii.String(label),
		})
	}
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(12), Height: jsii.Number(6),
		})
	}
	var lags, errs []awscloudwatch.IMetric
	for _, p := range registered {
		// Labelled here only: a labelled metric makes an alarm use metric math.
		lags = append(lags, lag(p.Name()).With(&awscloudwatch.MetricOptions{Label: jsii.String(p.Name())}))
	}
	for _, f := range fns {
		errs = append(errs, f.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: minute, Label: jsii.String(f.id)}))
	}
	d := awscloudwatch.NewDashboard(b.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(b.cfg.Prefix),
	})
	d.AddWidgets(
		graph("API latency (ms)", apiMetric("Latency", "p50", "p50"), apiMetric("Latency", "p99", "p99")),
		graph("API errors", apiMetric("4xx", "Sum", "4xx"), apiMetric("5xx", "Sum", "5xx")),
	)
	d.AddWidgets(
		graph("Events appended", emf(MetricEventsAppended, "appended")),
		graph("Projection lag (s)", lags...),
	)
	d.AddWidgets(
		graph("Invoices issued", emf(MetricInvoicesIssued, "issued")),
		graph("Change feed", feedMetrics...),
	)
	d.AddWidgets(graph("Function errors", errs...))
}
