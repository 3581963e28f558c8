package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/identity"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/events/kinesis"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
)

// flaky is the items projection behind a dependency that fails: failOnce
// events fail their first Apply, failUntilFixed events every Apply until fixed.
// The errors wrap events.ErrUnavailable, the transient kind the engine fails a
// batch for (an ordinary Apply error parks the event instead: see
// `projections parked`).
type flaky struct {
	projections.Items
	mu             sync.Mutex
	failOnce       map[string]bool
	failUntilFixed map[string]bool
	fixed          bool
	attempts       map[string]int
}

func (f *flaky) Apply(ctx context.Context, tx projections.Tx, ev evs.Event) error {
	f.mu.Lock()
	f.attempts[ev.ID]++
	fail := (f.failOnce[ev.ID] && f.attempts[ev.ID] == 1) || (f.failUntilFixed[ev.ID] && !f.fixed)
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("read-model dependency down for %s: %w", ev.ID, evs.ErrUnavailable)
	}
	return f.Items.Apply(ctx, tx, ev)
}

// The projector's delivery end to end, on each feed's encoded semantics:
// SQS and its event source mapping (awstest.SQS), and a Kinesis stream and
// its event source mapping (awstest.Kinesis). Both run the items projection
// behind an Apply that fails once for one event and always for another until
// fixed, then the runbook's redrive; nothing is dropped: the read model ends
// equal to an in-order replay of the store.
func TestDeliveryCannotDropAnEvent(t *testing.T) {
	for _, feed := range []string{FeedSQS, FeedKinesis} {
		t.Run(feed, func(t *testing.T) {
			d := newDelivery(t)
			switch feed {
			case FeedSQS:
				d.overSQS(t)
			case FeedKinesis:
				d.overKinesis(t)
			}
			d.assertReplay(t)
		})
	}
}

// delivery is one run: a platform whose items projection is flaky, the
// events it must project, and the two events that fail.
type delivery struct {
	ctx        context.Context
	p          *Platform
	proj       *flaky
	reg        *prometheus.Registry
	tenant     evs.TenantID
	all        []evs.Event // every stored event, items and others
	itemEvents []evs.Event
	once       evs.Event // fails its first Apply
	streamC    evs.StreamID
}

func newDelivery(t *testing.T) *delivery {
	ctx := context.Background()
	t.Setenv("AWS_REGION", "us-east-1")
	proj := &flaky{failOnce: map[string]bool{}, failUntilFixed: map[string]bool{}, attempts: map[string]int{}}
	reg := prometheus.NewRegistry()
	p, err := openFunction(ctx, Env{Store: StoreMemory}, forTest(&bytes.Buffer{}, func(o *Options) {
		o.Projections = []projections.Projection{proj}
		o.Registerer = reg
		o.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}))
	require.NoError(t, err)

	// Three items, each put several times; b is deleted at the end.
	on, err := p.Service.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "a@acme.test", Password: "Sup3r-secret!"}, nil)
	require.NoError(t, err)
	admin := commands.Meta{Principal: identity.Principal{TenantID: on.TenantID, UserID: on.AdminUserID, Roles: []string{identity.RoleTenantAdmin}}}
	for v := 1; v <= 4; v++ {
		for _, id := range []string{"a", "b", "c"} {
			_, err := p.Service.PutItem(ctx, admin, commands.PutItem{Tenant: on.TenantID, ItemID: id, Data: json.RawMessage(fmt.Sprintf(`{"v":%d}`, v))})
			require.NoError(t, err)
		}
	}
	require.NoError(t, p.Service.DeleteItem(ctx, admin, on.TenantID, "b", commands.Precondition{}))
	page, err := p.Store.ReadAll(ctx, "", evs.ReadOptions{Limit: 1000})
	require.NoError(t, err)
	d := &delivery{ctx: ctx, p: p, proj: proj, reg: reg, tenant: evs.TenantID(on.TenantID), all: page.Events}
	for _, e := range page.Events {
		if e.StreamType == "item" {
			d.itemEvents = append(d.itemEvents, e)
		}
	}
	require.Len(t, d.itemEvents, 13)
	require.Greater(t, len(d.all), len(d.itemEvents), "the store holds other events too")
	byStream := map[evs.StreamID][]evs.Event{}
	for _, e := range d.itemEvents {
		byStream[e.StreamID] = append(byStream[e.StreamID], e)
	}
	for s, es := range byStream {
		if string(s) != "" && len(es) == 4 && es[0].Type == "item.put" && json.Valid(es[0].Data) && bytes.Contains(es[0].Data, []byte(`"c"`)) {
			d.streamC = s
		}
	}
	require.NotEmpty(t, d.streamC, "item c's stream")
	var streamA evs.StreamID
	for s := range byStream {
		if s != d.streamC && len(byStream[s]) == 4 {
			streamA = s
		}
	}
	d.once = byStream[streamA][1] // a's second version fails once
	poison := byStream[d.streamC][0]
	proj.failOnce[d.once.ID] = true
	proj.failUntilFixed[poison.ID] = true
	return d
}

func (d *delivery) fix() {
	d.proj.mu.Lock()
	d.proj.fixed = true
	d.proj.mu.Unlock()
}

// assertAfterFirstDrain: the event that failed once was applied on its
// redelivery, item c is not in the read model, and nothing was parked.
func (d *delivery) assertAfterFirstDrain(t *testing.T) {
	t.Helper()
	assert.Equal(t, 2, d.proj.attempts[d.once.ID], "the event that failed once was applied on its redelivery")
	parked, err := d.p.Engine.Parked(d.ctx, d.proj.Name())
	require.NoError(t, err)
	assert.Empty(t, parked, "a transient failure is not parked")
	_, err = d.p.Reader.Get(d.ctx, d.proj.Name(), d.tenant, projections.ItemsCollection, "c")
	require.ErrorIs(t, err, projections.ErrNotFound, "item c is not in the read model yet")
}

// overSQS: standard-queue order (shuffled) with duplicates, partial batch
// responses, redelivery after the visibility timeout, the dead-letter queue
// after maxReceiveCount, then a redrive with the projection fixed.
func (d *delivery) overSQS(t *testing.T) {
	ctx := d.ctx
	// The rule's target: the projection's queue with its dead-letter queue, as
	// infra builds them (visibility six times the function's timeout, five receives).
	fake := &awstest.SQS{Rand: rand.New(rand.NewSource(7)), Duplicate: 0.2}
	dlq := fake.AddQueue(eventbridge.ProjectionDLQName("ts", "items"), 0, nil, 0)
	queue := fake.AddQueue(eventbridge.ProjectionQueueName("ts", "items"), 6*time.Minute, dlq, 5)
	for _, i := range rand.New(rand.NewSource(3)).Perm(len(d.itemEvents)) {
		fake.Send(queue, string(busEvent(t, d.itemEvents[i], "INSERT")))
	}
	handler := func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return ProjectBatch(ctx, d.p, d.proj, nil, e), nil
	}
	st, err := fake.Drain(ctx, queue, 10, handler)
	require.NoError(t, err)
	// The cost of keeping no order (docs/aws.md): each event that arrives
	// before an earlier version of its stream makes the engine read the gap
	// from the store once, and the earlier version is then skipped.
	t.Logf("first drain: %+v, %v gap fills for %d events", st, counter(t, d.reg, "tenantstream_projection_gap_fills_total"), len(d.itemEvents))
	d.assertAfterFirstDrain(t)
	assert.Zero(t, fake.Len(queue), "the source queue drained")
	// Item c's first version never applies, so its later versions cannot
	// either (the gap fill reads it and fails again): the whole stream, and
	// only it, is in the dead-letter queue.
	inDLQ := map[string]bool{}
	for _, b := range fake.Bodies(dlq) {
		ev, err := eventbridge.Decode([]byte(b))
		require.NoError(t, err)
		assert.Equal(t, d.streamC, ev.StreamID, "only item c's stream is dead-lettered")
		inDLQ[ev.ID] = true
	}
	assert.Len(t, inDLQ, 4, "every version of item c is kept, none dropped")

	// The runbook: fix the projection, count, redrive, and the mapping drains it.
	d.fix()
	pq, err := FindProjectionQueues(ctx, fake, "ts", "items")
	require.NoError(t, err)
	depth, err := Depth(ctx, fake, pq.DLQURL)
	require.NoError(t, err)
	assert.Equal(t, QueueDepth{Visible: fake.Len(dlq)}, depth, "the dry run's count")
	moved, err := Redrive(ctx, fake, pq, RedriveOptions{})
	require.NoError(t, err)
	assert.Equal(t, depth.Visible, moved)
	assert.Zero(t, fake.Len(dlq))
	_, err = fake.Drain(ctx, queue, 10, handler)
	require.NoError(t, err)
	assert.Zero(t, fake.Len(dlq), "nothing dead-lettered after the fix")
}

// overKinesis: every stored event streamed in an order that differs from the
// store's (DynamoDB does not keep the relative order of changes) with
// duplicates, over two shards; the mapping's filter, partial batch responses,
// bisect on function error, bounded retries and the on-failure destination
// (metadata only), then the redrive reading the ranges back from the shards.
func (d *delivery) overKinesis(t *testing.T) {
	ctx := d.ctx
	stream := &awstest.Kinesis{Shards: 2, Duplicate: 0.2, Rand: rand.New(rand.NewSource(7))}
	dests := &awstest.SQS{}
	dlq := dests.AddQueue(eventbridge.ProjectionDLQName("ts", "items"), 0, nil, 0)
	for _, i := range rand.New(rand.NewSource(3)).Perm(len(d.all)) {
		data, err := kinesis.ChangeRecord(d.all[i], "ts-events", "us-east-1")
		require.NoError(t, err)
		stream.Put(kinesis.PartitionKey(d.all[i]), data)
	}
	const fn = "arn:aws:lambda:us-east-1:111122223333:function:ts-projector-items"
	pattern := kinesis.FilterPattern(d.proj.Handles())
	// As infra configures the mapping (infra/stack: KinesisBatchSize and the
	// retry bounds), with fewer retries so the test is short.
	mapping := &awstest.KinesisMapping{BatchSize: 10, MaxRetryAttempts: 3, MaxRecordAge: time.Hour, BisectOnError: true,
		Filter: func(data []byte) bool { return awstest.MatchFilter(pattern, data) }, FunctionARN: fn, OnFailure: dests, OnFailureQueue: dlq}
	handler := func(ctx context.Context, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		return ProjectKinesisBatch(ctx, d.p, d.proj, nil, e)
	}
	st, err := stream.Drain(ctx, mapping, handler)
	require.NoError(t, err)
	t.Logf("first drain: %+v, %v gap fills for %d events", st, counter(t, d.reg, "tenantstream_projection_gap_fills_total"), len(d.itemEvents))
	d.assertAfterFirstDrain(t)

	// Bisecting isolated each failing record: every discarded range holds
	// records of item c's stream only, and every version of it is kept.
	inDLQ := map[string]bool{}
	for _, b := range dests.Bodies(dlq) {
		fb, err := kinesis.ParseFailedBatch([]byte(b))
		require.NoError(t, err)
		assert.Equal(t, fn, fb.RequestContext.FunctionARN)
		assert.Equal(t, "RetryAttemptsExhausted", fb.RequestContext.Condition)
		for _, data := range readRange(t, stream, fb) {
			ev, err := kinesis.Decode(data)
			require.NoError(t, err)
			assert.Equal(t, d.streamC, ev.StreamID, "only item c's stream is discarded")
			inDLQ[ev.ID] = true
		}
	}
	assert.Len(t, inDLQ, 4, "every version of item c is kept, none dropped")

	// The runbook: fix the projection, count, redrive from the shards.
	d.fix()
	depth, err := Depth(ctx, dests, dlq.URL())
	require.NoError(t, err)
	assert.Equal(t, QueueDepth{Visible: dests.Len(dlq)}, depth, "the dry run's count")
	invoke := func(ctx context.Context, arn string, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		require.Equal(t, fn, arn, "the redrive invokes the function the metadata names")
		return ProjectKinesisBatch(ctx, d.p, d.proj, nil, e)
	}
	rst, err := RedriveKinesis(ctx, dests, stream, invoke, dlq.URL(), RedriveOptions{})
	require.NoError(t, err)
	assert.Equal(t, depth.Visible, rst.Batches)
	assert.Zero(t, dests.Len(dlq), "the redriven messages are deleted")
}

// readRange is the data of the records of fb's range, read from the fake's shard.
func readRange(t *testing.T, k KinesisReader, fb kinesis.FailedBatch) [][]byte {
	t.Helper()
	var out [][]byte
	var seen int
	invoke := func(_ context.Context, _ string, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		for _, r := range e.Records {
			out = append(out, r.Kinesis.Data)
		}
		seen += len(e.Records)
		return events.KinesisEventResponse{}, nil
	}
	n, err := redriveRange(context.Background(), k, invoke, fb)
	require.NoError(t, err)
	require.Equal(t, seen, n)
	return out
}

// assertReplay: the read model equals an in-order replay of the store.
func (d *delivery) assertReplay(t *testing.T) {
	replay := projections.NewMemoryBackend()
	eng, err := projections.NewEngine(projections.EngineOptions{Store: d.p.Store, Backend: replay, Projections: []projections.Projection{projections.Items{}}})
	require.NoError(t, err)
	for _, e := range d.itemEvents {
		require.NoError(t, eng.Handle(d.ctx, []evs.Event{e}))
	}
	want, err := replay.Dump(d.ctx, d.proj.Name())
	require.NoError(t, err)
	got, err := d.p.Reader.(projections.Dumper).Dump(d.ctx, d.proj.Name())
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.NotEmpty(t, want)
}

// counter sums the counter name over its labels.
func counter(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
