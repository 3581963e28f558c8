package stack

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
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

// operations creates the alarms (to the ops topic) and the dashboard.
func (b *builder) operations(pipeName string, registered []projections.Projection) {
	action := awscloudwatchactions.NewSnsAction(b.res.ops)
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64, periods float64) {
		a := awscloudwatch.NewAlarm(b.stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// No data means nothing failed (error metrics are sparse).
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
	}

	for _, d := range b.res.dlqs {
		alarm("DLQAlarm-"+d.name, "Messages in the "+d.name+" dead-letter queue: inspect and redrive them",
			d.queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}), 0, 1)
	}

	fns := b.allFunctions()
	for _, f := range fns {
		alarm("ErrorsAlarm-"+f.id, "The "+f.id+" function reports errors",
			f.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}), 0, 1)
		alarm("ThrottlesAlarm-"+f.id, "The "+f.id+" function is throttled",
			f.fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}), 0, 1)
	}

	pipeMetric := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/EventBridge/Pipes"), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"PipeName": jsii.String(pipeName)},
			Period:        minute, Statistic: jsii.String("Sum"),
		})
	}
	alarm("PipeExecutionFailedAlarm", "The change-feed pipe failed executions", pipeMetric("ExecutionFailed"), 0, 1)
	alarm("PipeTargetFailedAlarm", "The change-feed pipe could not put events on the bus", pipeMetric("TargetStageFailed"), 0, 1)

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

	b.dashboard(fns, registered, lag, pipeMetric)
}

type namedFunction struct {
	id string
	fn awslambda.Function
}

// allFunctions lists the functions in a stable order, so construct ids and the
// dashboard do not change between syntheses.
func (b *builder) allFunctions() []namedFunction {
	var out []namedFunction
	for _, id := range []string{FnAPI, FnBillingClose, FnBillingCloseWorker} {
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
	lag func(string) awscloudwatch.Metric, pipeMetric func(string) awscloudwatch.Metric) {
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
		graph("Change feed", pipeMetric("EventCount"), pipeMetric("ExecutionFailed"), pipeMetric("TargetStageFailed")),
	)
	d.AddWidgets(graph("Function errors", errs...))
}
