package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

type fakePublisher struct {
	sent []projections.Notification
	err  error
}

func (f *fakePublisher) Publish(_ context.Context, n projections.Notification) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	f.sent = append(f.sent, n)
	return "msg-" + n.ID, nil
}

// busEvent is what the Pipe puts on the bus for a stored event (docs/aws.md).
func busEvent(t *testing.T, e evs.Event, eventName string) []byte {
	t.Helper()
	s := func(v string) map[string]string { return map[string]string{"S": v} }
	n := func(v int64) map[string]string { return map[string]string{"N": fmt.Sprint(v)} }
	pk := "T#" + string(e.TenantID) + "#S#" + string(e.StreamID)
	img := map[string]any{"PK": s(pk), "SK": n(e.Version), "kind": s("event"), "id": s(e.ID), "tenant_id": s(string(e.TenantID)),
		"stream_id": s(string(e.StreamID)), "stream_type": s(e.StreamType), "type": s(e.Type), "schema_version": n(int64(e.SchemaVersion)),
		"occurred_at": n(e.OccurredAt.UnixMicro()), "recorded_at": n(e.RecordedAt.UnixMicro()), "data": s(string(e.Data))}
	b, err := json.Marshal(map[string]any{"version": "0", "id": "bus-" + e.ID, "detail-type": "Event from aws:dynamodb",
		"source": "Pipe tenantstream-events", "account": "111122223333", "time": "2026-03-01T10:15:31Z", "region": "us-east-1", "resources": []string{},
		"detail": map[string]any{"eventID": "r-" + e.ID, "eventName": eventName, "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
			"dynamodb": map[string]any{"Keys": map[string]any{"PK": s(pk), "SK": n(e.Version)}, "NewImage": img,
				"SequenceNumber": "1", "SizeBytes": 100, "StreamViewType": "NEW_IMAGE"},
			"eventSourceARN": "arn:aws:dynamodb:us-east-1:111122223333:table/events/stream/x"}})
	require.NoError(t, err)
	return b
}

// newTestPlatform is the memory platform running only proj, writing EMF to metrics.
func newTestPlatform(t *testing.T, proj string, metrics *bytes.Buffer) (*Platform, projections.Projection) {
	t.Helper()
	t.Setenv("AWS_REGION", "us-east-1")
	pr, ok := projections.Lookup(proj)
	require.True(t, ok)
	p, err := openFunction(context.Background(), Env{Store: StoreMemory, MetricsNamespace: "ts-test"},
		forTest(metrics, func(o *Options) { o.Projections = []projections.Projection{pr} }))
	require.NoError(t, err)
	return p, pr
}

func onboard(t *testing.T, p *Platform) []evs.Event {
	t.Helper()
	ctx := context.Background()
	_, err := p.Service.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "a@acme.test", Password: "Sup3r-secret!"}, nil)
	require.NoError(t, err)
	page, err := p.Store.ReadAll(ctx, "", evs.ReadOptions{Limit: 100})
	require.NoError(t, err)
	return page.Events
}

func find(t *testing.T, es []evs.Event, typ string) evs.Event {
	t.Helper()
	for _, e := range es {
		if e.Type == typ {
			return e
		}
	}
	t.Fatalf("no %s event", typ)
	return evs.Event{}
}

func TestProjectorOutboxPublishes(t *testing.T) {
	ctx := context.Background()
	var metrics bytes.Buffer
	p, proj := newTestPlatform(t, "outbox", &metrics)
	onboarded := find(t, onboard(t, p), "tenant.onboarded")
	pub := &fakePublisher{}

	require.NoError(t, project(ctx, p, proj, pub, busEvent(t, onboarded, "INSERT")))
	require.Len(t, pub.sent, 1)
	assert.Equal(t, onboarded.ID, pub.sent[0].ID)
	assert.Equal(t, "tenant.onboarded", pub.sent[0].Type)
	assert.Equal(t, string(onboarded.TenantID), pub.sent[0].TenantID)

	var line map[string]any
	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &line), metrics.String())
	assert.Equal(t, "outbox", line["Projection"])
	assert.Equal(t, string(onboarded.TenantID), line["tenant_id"])
	assert.Contains(t, line, "ProjectionLagSeconds")

	// A failed publish fails the record, so SQS redelivers it; the retry
	// skips the applied event and publishes again.
	pub.err = errors.New("sns down")
	require.ErrorContains(t, project(ctx, p, proj, pub, busEvent(t, onboarded, "INSERT")), "sns down")
	pub.err = nil
	require.NoError(t, project(ctx, p, proj, pub, busEvent(t, onboarded, "INSERT")))
	assert.Len(t, pub.sent, 2, "at least once: the redelivery publishes again; receivers deduplicate by id")
}

func TestProjectorSkips(t *testing.T) {
	ctx := context.Background()
	p, proj := newTestPlatform(t, "outbox", &bytes.Buffer{})
	es := onboard(t, p)
	onboarded := find(t, es, "tenant.onboarded")
	userAdded := find(t, es, "user.added")
	tests := []struct {
		name    string
		raw     []byte
		wantErr string
	}{
		{name: "MODIFY records are not events", raw: busEvent(t, onboarded, "MODIFY")},
		{name: "a type the projection does not handle", raw: busEvent(t, userAdded, "INSERT")},
		{name: "malformed", raw: []byte(`{"detail":`), wantErr: "decode bus event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			err := project(ctx, p, proj, pub, tc.raw)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, pub.sent)
		})
	}
}

func TestProjectorNeedsAKnownProjection(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	_, err := Projector(context.Background(), Env{Store: StoreMemory})
	require.ErrorContains(t, err, "TENANTSTREAM_PROJECTION is required")
	_, err = Projector(context.Background(), Env{Store: StoreMemory, Projection: "nope"})
	require.ErrorIs(t, err, projections.ErrUnknownProjection)
}

// The metered store keeps the backend's KeyClaimer (and its limit) visible, and
// counts appended events without a tenant dimension.
func TestMeteredStore(t *testing.T) {
	var metrics bytes.Buffer
	p, _ := newTestPlatform(t, "items", &metrics)
	kc, ok := p.Store.(evs.KeyClaimer)
	require.True(t, ok, "usage batching needs the KeyClaimer")
	assert.Positive(t, kc.(interface{ MaxClaimKeys() int }).MaxClaimKeys())
	onboard(t, p)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(metrics.String()), "\n") {
		if !strings.Contains(l, `"stream_type":"catalog"`) { // the price book's first publication
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 4, "name, user, roster and tenant appends")
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		assert.EqualValues(t, 1, m["EventsAppended"])
		assert.NotContains(t, fmt.Sprint(m["_aws"]), "tenant")
	}
}

func TestEnvTestClockNeedsTheHooksFlag(t *testing.T) {
	t.Setenv("TENANTSTREAM_NOW", "2026-04-02T00:00:00Z")
	t.Setenv("TENANTSTREAM_TEST_HOOKS", "")
	assert.True(t, FromEnv().Now.IsZero(), "never on by default")
	t.Setenv("TENANTSTREAM_TEST_HOOKS", "1")
	assert.Equal(t, time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), FromEnv().Now)
	t.Setenv("TENANTSTREAM_NOW", "yesterday")
	t.Setenv("AWS_REGION", "us-east-1")
	_, err := openFunction(context.Background(), FromEnv(), nil)
	require.ErrorContains(t, err, "TENANTSTREAM_NOW")

	p, err := openFunction(context.Background(), Env{Store: StoreMemory, Now: time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)}, forTest(&bytes.Buffer{}))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), p.Clock.Now(), time.Minute)
	_, err = openFunction(context.Background(), Env{Store: StoreDynamoDB}, forTest(&bytes.Buffer{}))
	require.ErrorContains(t, err, "TENANTSTREAM_EVENTS_TABLE")
}

// sqsBatch is what the event source mapping passes the projector: one record
// per queued bus event, with the message ids the response must name.
func sqsBatch(bodies ...[]byte) events.SQSEvent {
	var e events.SQSEvent
	for i, b := range bodies {
		e.Records = append(e.Records, events.SQSMessage{MessageId: fmt.Sprintf("m-%d", i), Body: string(b), EventSource: "aws:sqs"})
	}
	return e
}

// A batch reports exactly the records that failed; the rest are acknowledged
// (and deleted by the event source mapping).
func TestProjectBatchReportsOnlyFailedRecords(t *testing.T) {
	ctx := context.Background()
	p, proj := newTestPlatform(t, "outbox", &bytes.Buffer{})
	es := onboard(t, p)
	onboarded := find(t, es, "tenant.onboarded")
	pub := &fakePublisher{}
	resp := ProjectBatch(ctx, p, proj, pub, sqsBatch(busEvent(t, onboarded, "INSERT"), []byte(`{"detail":`), busEvent(t, onboarded, "MODIFY")))
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m-1"}}, resp.BatchItemFailures, "only the malformed record is redelivered")
	require.Len(t, pub.sent, 1)

	pub.err = errors.New("sns down")
	resp = ProjectBatch(ctx, p, proj, pub, sqsBatch(busEvent(t, onboarded, "INSERT")))
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m-0"}}, resp.BatchItemFailures, "a failed publish is redelivered")

	b, err := json.Marshal(ProjectBatch(ctx, p, proj, &fakePublisher{}, sqsBatch(busEvent(t, onboarded, "INSERT"))))
	require.NoError(t, err)
	assert.JSONEq(t, `{"batchItemFailures":[]}`, string(b), "an all-good batch answers an empty list, not null")
}
