package eventbridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	ebapi "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
	pdynamodb "github.com/tenantstream/tenantstream/projections/dynamodb"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// perTenant counts events and remembers each stream's last version, per tenant.
type perTenant struct{}

func (perTenant) Name() string      { return "per-tenant" }
func (perTenant) Handles() []string { return []string{"n.added"} }
func (perTenant) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	n := 0
	if v, err := tx.Get(ctx, ev.TenantID, "c", "n"); err == nil {
		n, _ = strconv.Atoi(string(v))
	} else if !errors.Is(err, projections.ErrNotFound) {
		return err
	}
	if err := tx.Put(ctx, ev.TenantID, "c", "n", []byte(strconv.Itoa(n+1))); err != nil {
		return err
	}
	return tx.Put(ctx, ev.TenantID, "streams", string(ev.StreamID), []byte(strconv.FormatInt(ev.Version, 10)))
}

// eventItem writes the events table's item layout (events/dynamodb, docs/aws.md).
func eventItem(e events.Event) map[string]ddbtypes.AttributeValue {
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	n := func(v int64) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	return map[string]ddbtypes.AttributeValue{
		"PK": s("T#" + string(e.TenantID) + "#S#" + string(e.StreamID)), "SK": n(e.Version),
		"GSI1PK": s("T#" + string(e.TenantID) + "#H"), "GSI1SK": s(fmt.Sprintf("%016d#%s#%010d", e.RecordedAt.UnixMicro(), e.StreamID, e.Version)),
		"kind": s("event"), "id": s(e.ID), "tenant_id": s(string(e.TenantID)), "stream_id": s(string(e.StreamID)),
		"type": s(e.Type), "schema_version": n(int64(e.SchemaVersion)),
		"occurred_at": n(e.OccurredAt.UnixMicro()), "recorded_at": n(e.RecordedAt.UnixMicro()), "data": s(string(e.Data)),
	}
}

func TestRunnerFeedsEngineAndBus(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	require.NoError(t, moto.Reset(ctx))
	cfg := moto.Config()
	db := ddb.NewFromConfig(cfg)

	// The events table, with a NEW_IMAGE stream as the pipe needs.
	tbl, err := db.CreateTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String("events"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("PK"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("SK"), AttributeType: ddbtypes.ScalarAttributeTypeN},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("PK"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("SK"), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode:         ddbtypes.BillingModePayPerRequest,
		StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewImage},
	})
	require.NoError(t, err)
	streamARN := aws.ToString(tbl.TableDescription.LatestStreamArn)
	require.NotEmpty(t, streamARN)

	// The same events in a memstore (the engine fills gaps from it) and in the table.
	store := memstore.New()
	var want []events.Event
	for i := range 7 {
		res, err := store.Append(ctx, events.AppendRequest{
			Tenant: events.TenantID(fmt.Sprintf("t%d", i%2)), Stream: events.StreamID(fmt.Sprintf("s%d", i%3)), Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}},
		})
		require.NoError(t, err)
		want = append(want, res.Events[0])
	}
	for _, e := range want {
		_, err := db.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String("events"), Item: eventItem(e)})
		require.NoError(t, err)
	}
	// An idempotency record shares the table; the feed must not deliver it.
	_, err = db.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String("events"), Item: map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: "T#t0#I#key-1"}, "SK": &ddbtypes.AttributeValueMemberN{Value: "0"},
		"kind": &ddbtypes.AttributeValueMemberS{Value: "idempotency"},
	}})
	require.NoError(t, err)
	streams := dynamodbstreams.NewFromConfig(cfg)

	t.Run("in process into the engine on the DynamoDB backend", func(t *testing.T) {
		require.NoError(t, pdynamodb.CreateTable(ctx, db, "readmodels"))
		backend, err := pdynamodb.New(db, pdynamodb.Options{Table: "readmodels"})
		require.NoError(t, err)
		eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend, Projections: []projections.Projection{perTenant{}}})
		require.NoError(t, err)
		var batches int
		r := &eventbridge.Runner{Streams: streams, StreamARN: streamARN, BatchSize: 3,
			Handle: func(ctx context.Context, b []events.Event) error { batches++; return eng.Handle(ctx, b) }}
		n, err := r.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, len(want), n)
		assert.GreaterOrEqual(t, batches, 3, "batches of at most 3 records")
		for tenant, count := range map[events.TenantID]string{"t0": "4", "t1": "3"} {
			v, err := eng.Reader().Get(ctx, "per-tenant", tenant, "c", "n")
			require.NoError(t, err)
			assert.Equal(t, count, string(v), "tenant %s", tenant)
		}
		// Nothing new: a second poll delivers nothing and changes nothing.
		n, err = r.Poll(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)

		// A failed delivery is retried from the same records on the next poll.
		more, err := store.Append(ctx, events.AppendRequest{Tenant: "t0", Stream: "s0", Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(`{}`)}}})
		require.NoError(t, err)
		_, err = db.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String("events"), Item: eventItem(more.Events[0])})
		require.NoError(t, err)
		fail := true
		r.Handle = func(ctx context.Context, b []events.Event) error {
			if fail {
				fail = false
				return errors.New("projector unavailable")
			}
			return eng.Handle(ctx, b)
		}
		_, err = r.Poll(ctx)
		require.ErrorContains(t, err, "projector unavailable")
		n, err = r.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		v, err := eng.Reader().Get(ctx, "per-tenant", "t0", "c", "n")
		require.NoError(t, err)
		assert.Equal(t, "5", string(v))
		want = append(want, more.Events[0])
	})

	t.Run("through a bus whose rule targets SQS", func(t *testing.T) {
		eb := ebapi.NewFromConfig(cfg)
		q := sqs.NewFromConfig(cfg)
		_, err := eb.CreateEventBus(ctx, &ebapi.CreateEventBusInput{Name: aws.String("tenantstream")})
		require.NoError(t, err)
		queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("projector")})
		require.NoError(t, err)
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		require.NoError(t, err)
		// The rule a projection's registration derives: its event types, inserts only.
		pattern := `{"source":["Pipe tenantstream-events"],"detail-type":["Event from aws:dynamodb"],` +
			`"detail":{"eventName":["INSERT"],"dynamodb":{"NewImage":{"type":{"S":["n.added"]}}}}}`
		_, err = eb.PutRule(ctx, &ebapi.PutRuleInput{Name: aws.String("per-tenant"), EventBusName: aws.String("tenantstream"), EventPattern: aws.String(pattern)})
		require.NoError(t, err)
		_, err = eb.PutTargets(ctx, &ebapi.PutTargetsInput{Rule: aws.String("per-tenant"), EventBusName: aws.String("tenantstream"),
			Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}}})
		require.NoError(t, err)

		r := &eventbridge.Runner{Streams: streams, StreamARN: streamARN,
			Bus: &eventbridge.Bus{Client: eb, Name: "tenantstream", PipeName: "tenantstream-events"}}
		n, err := r.Poll(ctx)
		require.NoError(t, err)
		require.Equal(t, len(want), n)

		var got []events.Event
		deadline := time.Now().Add(20 * time.Second)
		for len(got) < len(want) && time.Now().Before(deadline) {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			require.NoError(t, err)
			for _, m := range out.Messages {
				ev, err := eventbridge.Decode([]byte(aws.ToString(m.Body)))
				require.NoError(t, err, aws.ToString(m.Body))
				got = append(got, ev)
			}
		}
		sortEvents(got)
		sortEvents(want)
		for i := range want {
			want[i].Position = 0 // the DynamoDB feed has no store position
		}
		assert.Equal(t, want, got)
	})
}

func sortEvents(evs []events.Event) {
	slices.SortFunc(evs, func(a, b events.Event) int { return strings.Compare(a.ID, b.ID) })
}
