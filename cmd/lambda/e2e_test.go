package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	ebapi "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	snsapi "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
	"github.com/tenantstream/tenantstream/cmd/lambda/internal/rie"
	"github.com/tenantstream/tenantstream/commands/cursorseal"
	"github.com/tenantstream/tenantstream/domain/billing"
	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
	"github.com/tenantstream/tenantstream/handlers/sns"
	"github.com/tenantstream/tenantstream/projections"
	pjddb "github.com/tenantstream/tenantstream/projections/dynamodb"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const (
	pipeName  = "tenantstream-events"
	busName   = "tenantstream"
	eventsTbl = "e2e-events"
	modelsTbl = "e2e-readmodels"
)

// awsPlatform is moto dressed as the deployed stack, plus the functions behind emulators.
type awsPlatform struct {
	t          *testing.T
	ctx        context.Context
	sqs        *sqs.Client
	runner     *eventbridge.Runner
	projQueues map[string]string // projection -> queue its rule targets
	projectors map[string]*rie.Function
	api        *rie.Function
	closer     *rie.Function // billing-close
	closeQ     string        // its queue, which the worker reads
	worker     *rie.Function
	authed     int // authenticated api calls: the api_requests the api function recorded
}

func queueARN(t *testing.T, ctx context.Context, q *sqs.Client, url string) string {
	t.Helper()
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	return attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

func createQueue(t *testing.T, ctx context.Context, q *sqs.Client, name string) string {
	t.Helper()
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	require.NoError(t, err)
	return aws.ToString(out.QueueUrl)
}

// subscribe gives a queue a topic's messages raw, with their attributes.
func subscribe(t *testing.T, ctx context.Context, p *awsPlatform, topics *snsapi.Client, topicARN, name string) string {
	t.Helper()
	url := createQueue(t, ctx, p.sqs, name)
	_, err := topics.Subscribe(ctx, &snsapi.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(queueARN(t, ctx, p.sqs, url)), Attributes: map[string]string{"RawMessageDelivery": "true"}})
	require.NoError(t, err)
	return url
}

// settle does what the Pipe, the bus and Lambda do on AWS: the runner moves new
// stream records onto the bus, whose rules queue them per projection, and each
// queued bus event is a record of an SQS batch for that projection's projector
// function, as its event source mapping delivers them.
func (p *awsPlatform) settle() {
	p.t.Helper()
	for round := 0; round < 20; round++ {
		n, err := p.runner.Poll(p.ctx)
		require.NoError(p.t, err)
		delivered := 0
		for name, url := range p.projQueues {
			for {
				out, err := p.sqs.ReceiveMessage(p.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
				require.NoError(p.t, err)
				if len(out.Messages) == 0 {
					break
				}
				// The event source mapping's batch: the queued bus events as SQS
				// records; every one must succeed here (no batch item failures).
				batch := events.SQSEvent{}
				for _, m := range out.Messages {
					batch.Records = append(batch.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
						Body: aws.ToString(m.Body), EventSource: "aws:sqs", EventSourceARN: queueARN(p.t, p.ctx, p.sqs, url)})
				}
				var resp events.SQSEventResponse
				p.projectors[name].Invoke(p.t, batch, &resp)
				require.Empty(p.t, resp.BatchItemFailures, "projector %s", name)
				for _, m := range out.Messages {
					_, err := p.sqs.DeleteMessage(p.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
					require.NoError(p.t, err)
					delivered++
				}
			}
		}
		if n == 0 && delivered == 0 {
			return
		}
	}
	p.t.Fatal("the feed did not settle in 20 rounds")
}

type apiResponse struct {
	events.APIGatewayV2HTTPResponse
}

func (r apiResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Body), &m), "body: %s", r.Body)
	return m
}

// call invokes the api function with the HTTP API's payload 2.0.
func (p *awsPlatform) call(method, path, token string, body any) apiResponse {
	p.t.Helper()
	ev := awstest.APIRequest(p.t, method, path, token, body, nil)
	if token != "" {
		p.authed++
	}
	var out apiResponse
	p.api.Invoke(p.t, ev, &out.APIGatewayV2HTTPResponse)
	return out
}

// receive waits for one message on a queue.
func (p *awsPlatform) receive(url string) sqstypes.Message {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, err := p.sqs.ReceiveMessage(p.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		require.NoError(p.t, err)
		if len(out.Messages) > 0 {
			require.Len(p.t, out.Messages, 1, "one notification expected")
			return out.Messages[0]
		}
	}
	p.t.Fatalf("no message arrived on %s", url)
	return sqstypes.Message{}
}

// The local platform's flow on the AWS adapters. moto
// plays DynamoDB (tables from the CreateTable helpers), Streams, EventBridge,
// SNS, SQS and Cognito; the pipe runner plays the Pipe; the api, projector
// (one per projection), billing-close and billing-close-worker binaries run
// behind the Lambda Runtime Interface Emulator and get API Gateway v2,
// EventBridge and SQS payloads.
func TestEndToEndOnAWSAdapters(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	cfg := moto.Config()
	db := ddb.NewFromConfig(cfg)
	p := &awsPlatform{t: t, ctx: ctx, sqs: sqs.NewFromConfig(cfg), projQueues: map[string]string{}, projectors: map[string]*rie.Function{}}

	// The stack, as infra/ declares it.
	require.NoError(t, evddb.CreateTable(ctx, db, eventsTbl))
	require.NoError(t, pjddb.CreateTable(ctx, db, modelsTbl))
	tbl, err := db.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(eventsTbl)})
	require.NoError(t, err)
	streamARN := aws.ToString(tbl.Table.LatestStreamArn)
	require.NotEmpty(t, streamARN, "the events table has a stream")
	eb := ebapi.NewFromConfig(cfg)
	_, err = eb.CreateEventBus(ctx, &ebapi.CreateEventBusInput{Name: aws.String(busName)})
	require.NoError(t, err)
	for _, proj := range projections.Registered() {
		url := createQueue(t, ctx, p.sqs, "e2e-projector-"+proj.Name())
		types, err := json.Marshal(proj.Handles())
		require.NoError(t, err)
		pattern := fmt.Sprintf(`{"source":[%q],"detail-type":[%q],"detail":{"eventName":["INSERT"],"dynamodb":{"NewImage":{"type":{"S":%s}}}}}`,
			eventbridge.PipeSource(pipeName), eventbridge.DetailType, types)
		_, err = eb.PutRule(ctx, &ebapi.PutRuleInput{Name: aws.String(proj.Name()), EventBusName: aws.String(busName), EventPattern: aws.String(pattern)})
		require.NoError(t, err)
		_, err = eb.PutTargets(ctx, &ebapi.PutTargetsInput{Rule: aws.String(proj.Name()), EventBusName: aws.String(busName),
			Targets: []ebtypes.Target{{Id: aws.String("projector"), Arn: aws.String(queueARN(t, ctx, p.sqs, url))}}})
		require.NoError(t, err)
		p.projQueues[proj.Name()] = url
	}
	p.runner = &eventbridge.Runner{Streams: dynamodbstreams.NewFromConfig(cfg), StreamARN: streamARN,
		Bus: &eventbridge.Bus{Client: eb, Name: busName, PipeName: pipeName}}
	topicsClient := snsapi.NewFromConfig(cfg)
	topics, err := sns.CreateTopics(ctx, topicsClient, "e2e", false)
	require.NoError(t, err)
	invoicesQ := subscribe(t, ctx, p, topicsClient, topics.Invoices, "e2e-invoices")
	onboardingQ := subscribe(t, ctx, p, topicsClient, topics.Onboarding, "e2e-onboarding")
	pool, err := cognito.CreatePool(ctx, cip.NewFromConfig(cfg), "tenantstream-e2e")
	require.NoError(t, err)
	// The api's event-log cursor key, a generated secret string as infra makes it.
	cursorKey, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("tenantstream-e2e-cursor-key"), SecretString: aws.String(cursorseal.NewMaterial())})
	require.NoError(t, err)

	// The functions, configured as the stack configures them.
	emulator := rie.Emulator(t)
	env := []string{"TENANTSTREAM_STORE=dynamodb", "TENANTSTREAM_EVENTS_TABLE=" + eventsTbl, "TENANTSTREAM_READMODELS_TABLE=" + modelsTbl,
		"TENANTSTREAM_METRICS_NAMESPACE=tenantstream-e2e", "AWS_REGION=" + awstest.Region,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_ENDPOINT_URL=" + moto.Endpoint}
	with := func(extra ...string) []string { return append(append([]string{}, env...), extra...) }
	// The api lives on 20 March 2026 and the worker on 2 April, so March is due.
	// Its tenant requests reach DynamoDB with credentials vended from the tenant
	// role (moto's sts:AssumeRole), as deployed; cmd/internal/wire's tests check
	// the keys those calls touch against the role's LeadingKeys condition.
	p.api = rie.Start(t, "api", emulator, rie.Build(t, "./api"), with("AWS_LAMBDA_FUNCTION_NAME=api",
		"TENANTSTREAM_TENANT_ROLE_ARN=arn:aws:iam::123456789012:role/tenantstream-tenant",
		"TENANTSTREAM_CURSOR_KEY_SECRET_ARN="+aws.ToString(cursorKey.ARN),
		"COGNITO_USER_POOL_ID="+pool.UserPoolID, "COGNITO_CLIENT_ID="+pool.ClientID,
		"COGNITO_JWKS_URL="+cognito.JWKSURL(moto.Endpoint, pool.UserPoolID),
		"TENANTSTREAM_TEST_HOOKS=1", "TENANTSTREAM_NOW=2026-03-20T10:00:00Z")...)
	p.closeQ = createQueue(t, ctx, p.sqs, "e2e-billing-close")
	p.closer = rie.Start(t, "billing-close", emulator, rie.Build(t, "./billing-close"), with("AWS_LAMBDA_FUNCTION_NAME=billing-close",
		"BILLING_CLOSE_QUEUE_URL="+p.closeQ, "TENANTSTREAM_TEST_HOOKS=1", "TENANTSTREAM_NOW=2026-04-02T00:00:00Z")...)
	p.worker = rie.Start(t, "billing-close-worker", emulator, rie.Build(t, "./billing-close-worker"), with("AWS_LAMBDA_FUNCTION_NAME=billing-close-worker",
		"TENANTSTREAM_TEST_HOOKS=1", "TENANTSTREAM_NOW=2026-04-02T00:00:00Z")...)
	projector := rie.Build(t, "./projector")
	for _, proj := range projections.Registered() {
		p.projectors[proj.Name()] = rie.Start(t, "projector-"+proj.Name(), emulator, projector, with("AWS_LAMBDA_FUNCTION_NAME=projector-"+proj.Name(),
			"TENANTSTREAM_PROJECTION="+proj.Name(), "TENANTSTREAM_INVOICES_TOPIC_ARN="+topics.Invoices,
			"TENANTSTREAM_ONBOARDING_TOPIC_ARN="+topics.Onboarding)...)
	}

	// Onboarding: the user goes to Cognito, the notification to SNS.
	r := p.call(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!", "plan": "starter"})
	require.Equal(t, http.StatusCreated, r.StatusCode, r.Body)
	tenantID, _ := r.json(t)["tenant_id"].(string)
	require.NotEmpty(t, tenantID)
	p.settle()
	m := p.receive(onboardingQ)
	assert.Equal(t, tenantID, aws.ToString(m.MessageAttributes[sns.AttrTenantID].StringValue))
	assert.Contains(t, aws.ToString(m.Body), `"type":"tenant.onboarded"`)

	// Login through Cognito; the ID token is verified against moto's JWKS. (On AWS
	// clients send the access token, which the pre-token trigger gives the tenant;
	// moto runs no trigger: pretoken_e2e_test.go runs the trigger itself.)
	r = p.call(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!"})
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	token, _ := r.json(t)["id_token"].(string)
	require.NotEmpty(t, token)
	tenantPath := "/tenants/" + tenantID
	r = p.call(http.MethodGet, tenantPath, token, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	assert.Equal(t, "starter", r.json(t)["plan"])

	// Items: put, read back, list from the DynamoDB read model.
	for i, id := range []string{"doc-1", "doc-2"} {
		r = p.call(http.MethodPut, tenantPath+"/data/"+id, token, map[string]any{"title": "hello", "n": i})
		require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	}
	p.settle()
	r = p.call(http.MethodGet, tenantPath+"/data/doc-1", token, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	assert.Equal(t, map[string]any{"title": "hello", "n": float64(0)}, r.json(t)["data"])
	r = p.call(http.MethodGet, tenantPath+"/data?limit=10", token, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	assert.Len(t, r.json(t)["items"], 2, r.Body)

	// The event log pages with the sealed cursors (key from Secrets Manager).
	r = p.call(http.MethodGet, tenantPath+"/events?limit=2", token, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	next, _ := r.json(t)["next"].(string)
	require.NotEmpty(t, next)
	assert.NotContains(t, next, "dt1.", "a store cursor left the API")
	r = p.call(http.MethodGet, tenantPath+"/events?limit=2&after="+next, token, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	assert.NotEmpty(t, r.json(t)["events"], r.Body)

	// Usage in March.
	r = p.call(http.MethodPost, tenantPath+"/usage", token, map[string]any{"events": []map[string]string{
		{"id": "run-1", "meter": "compute_seconds", "quantity": "90", "timestamp": "2026-03-20T09:00:00Z"},
		{"id": "run-2", "meter": "compute_seconds", "quantity": "30.5", "timestamp": "2026-03-20T09:30:00Z"},
	}})
	require.Equal(t, http.StatusAccepted, r.StatusCode, r.Body)
	assert.Equal(t, map[string]any{"accepted": float64(2), "duplicates": float64(0)}, r.json(t))
	p.settle()

	// The close: the scheduled billing-close fans out one SQS message per tenant,
	// and the worker gets them as its SQS event.
	var resp events.SQSEventResponse
	p.closer.Invoke(t, events.EventBridgeEvent{Version: "0", ID: "sched-1", DetailType: "Scheduled Event", Source: "aws.scheduler",
		Time: time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), Detail: json.RawMessage(`{}`)}, nil)
	closeMsgs, err := p.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.closeQ), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.Len(t, closeMsgs.Messages, 1, "one close request per tenant")
	var req wire.CloseRequest
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(closeMsgs.Messages[0].Body)), &req))
	assert.Equal(t, wire.CloseRequest{TenantID: tenantID, Through: billing.Period{Year: 2026, Month: 3}}, req)
	closeEvent := events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(closeMsgs.Messages[0].MessageId),
		Body: aws.ToString(closeMsgs.Messages[0].Body), EventSource: "aws:sqs"}}}
	p.worker.Invoke(t, closeEvent, &resp)
	assert.Empty(t, resp.BatchItemFailures)
	p.settle()

	// The invoice's SNS message arrives on the queue subscribed to the invoices topic.
	m = p.receive(invoicesQ)
	assert.Equal(t, tenantID, aws.ToString(m.MessageAttributes[sns.AttrTenantID].StringValue))
	assert.Equal(t, billing.TypeInvoiceIssued, aws.ToString(m.MessageAttributes[sns.AttrEventType].StringValue))
	var note projections.Notification
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &note), aws.ToString(m.Body))
	assert.Equal(t, billing.TypeInvoiceIssued, note.Type)
	assert.Equal(t, tenantID, note.TenantID)
	var inv map[string]any
	require.NoError(t, json.Unmarshal(note.Data, &inv))
	assert.Equal(t, "2026-03", inv["period"])
	assert.EqualValues(t, 1, inv["number"])
	// The built-in meters are billed on AWS too (docs/aws.md, "Built-in meters"):
	// every authenticated call of March, and the two PUTs.
	metered := map[string]string{}
	for _, l := range inv["lines"].([]any) {
		if line := l.(map[string]any); line["meter"] != nil {
			metered[line["meter"].(string)] = fmt.Sprint(line["quantity"])
		}
	}
	assert.Equal(t, fmt.Sprint(p.authed), metered["api_requests"], "lines: %v", inv["lines"])
	assert.Equal(t, "2", metered["item_writes"], "lines: %v", inv["lines"])

	// The invoices read model answers the API, and a redelivered close changes nothing.
	r = p.call(http.MethodGet, "/billing/"+tenantID+"/invoices", token, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, r.Body)
	assert.Contains(t, r.Body, inv["invoice_id"].(string))
	p.worker.Invoke(t, closeEvent, &resp)
	assert.Empty(t, resp.BatchItemFailures)
	p.settle()
	out, err := p.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(invoicesQ), WaitTimeSeconds: 1})
	require.NoError(t, err)
	assert.Empty(t, out.Messages, "a second close issues no second invoice")

	// EMF lines: the tenant is a property, never a dimension.
	// The dimension sets are the ones infra's alarms and dashboard read.
	for _, c := range []struct {
		fn     *rie.Function
		metric string
		dims   string
	}{{p.api, "EventsAppended", `[[]]`}, {p.projectors["outbox"], "ProjectionLagSeconds", `[["Projection"]]`}, {p.worker, "InvoicesIssued", `[[]]`}} {
		line := emfLine(t, c.fn.Logs(), c.metric, tenantID)
		require.NotNil(t, line, "%s wrote no %s line for the tenant", c.fn.Name, c.metric)
		dir := line["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		assert.Equal(t, "tenantstream-e2e", dir["Namespace"])
		dims, err := json.Marshal(dir["Dimensions"])
		require.NoError(t, err)
		assert.JSONEq(t, c.dims, string(dims), c.metric)
	}
}

// emfLine returns the first log line carrying metric for tenant.
func emfLine(t *testing.T, logs, metric, tenant string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, `"_aws"`) || !strings.Contains(l, `"`+metric+`"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(l[strings.Index(l, "{"):]), &m) == nil && m["tenant_id"] == tenant {
			return m
		}
	}
	return nil
}
