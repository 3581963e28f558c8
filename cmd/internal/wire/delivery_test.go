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

// The projector's delivery end to end on the encoded semantics of SQS and the
// event source mapping (awstest.SQS): standard-queue order (shuffled) with
// duplicates, partial batch responses, redelivery after the visibility
// timeout, the dead-letter queue after maxReceiveCount, then a redrive with the
// projection fixed. Nothing is dropped: the read model ends equal to an
// in-order replay of the store.
func TestDeliveryCannotDropAnEvent(t *testing.T) {
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
	var itemEvents []evs.Event
	for _, e := range page.Events {
		if e.StreamType == "item" {
			itemEvents = append(itemEvents, e)
		}
	}
	require.Len(t, itemEvents, 13)
	byStream := map[evs.StreamID][]evs.Event{}
	for _, e := range itemEvents {
		byStream[e.StreamID] = append(byStream[e.StreamID], e)
	}
	var streamC evs.StreamID
	for s, es := range byStream {
		if string(s) != "" && len(es) == 4 && es[0].Type == "item.put" && json.Valid(es[0].Data) && bytes.Contains(es[0].Data, []byte(`"c"`)) {
			streamC = s
		}
	}
	require.NotEmpty(t, streamC, "item c's stream")
	var streamA evs.StreamID
	for s := range byStream {
		if s != streamC && len(byStream[s]) == 4 {
			streamA = s
		}
	}
	once := byStream[streamA][1] // a's second version fails once
	poison := byStream[streamC][0]
	proj.failOnce[once.ID] = true
	proj.failUntilFixed[poison.ID] = true

	// The rule's target: the projection's queue with its dead-letter queue, as
	// infra builds them (visibility six times the function's timeout, five receives).
	fake := &awstest.SQS{Rand: rand.New(rand.NewSource(7)), Duplicate: 0.2}
	dlq := fake.AddQueue(eventbridge.ProjectionDLQName("ts", "items"), 0, nil, 0)
	queue := fake.AddQueue(eventbridge.ProjectionQueueName("ts", "items"), 6*time.Minute, dlq, 5)
	for _, i := range rand.New(rand.NewSource(3)).Perm(len(itemEvents)) {
		fake.Send(queue, string(busEvent(t, itemEvents[i], "INSERT")))
	}
	handler := func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return ProjectBatch(ctx, p, proj, nil, e), nil
	}
	st, err := fake.Drain(ctx, queue, 10, handler)
	require.NoError(t, err)
	// The cost of keeping no order (docs/aws.md): each event that arrives
	// before an earlier version of its stream makes the engine read the gap
	// from the store once, and the earlier version is then skipped.
	t.Logf("first drain: %+v, %v gap fills for %d events", st, counter(t, reg, "tenantstream_projection_gap_fills_total"), len(itemEvents))

	assert.Equal(t, 2, proj.attempts[once.ID], "the event that failed once was applied on its redelivery")
	assert.Zero(t, fake.Len(queue), "the source queue drained")
	// Item c's first version never applies, so its later versions cannot
	// either (the gap fill reads it and fails again): the whole stream, and
	// only it, is in the dead-letter queue.
	inDLQ := map[string]bool{}
	for _, b := range fake.Bodies(dlq) {
		ev, err := eventbridge.Decode([]byte(b))
		require.NoError(t, err)
		assert.Equal(t, streamC, ev.StreamID, "only item c's stream is dead-lettered")
		inDLQ[ev.ID] = true
	}
	assert.Len(t, inDLQ, 4, "every version of item c is kept, none dropped")
	parked, err := p.Engine.Parked(ctx, proj.Name())
	require.NoError(t, err)
	assert.Empty(t, parked, "a transient failure is not parked")
	_, err = p.Reader.Get(ctx, proj.Name(), evs.TenantID(on.TenantID), projections.ItemsCollection, "c")
	require.ErrorIs(t, err, projections.ErrNotFound, "item c is not in the read model yet")

	// The runbook: fix the projection, count, redrive, and the mapping drains it.
	proj.mu.Lock()
	proj.fixed = true
	proj.mu.Unlock()
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

	// The read model equals an in-order replay of the store.
	replay := projections.NewMemoryBackend()
	eng, err := projections.NewEngine(projections.EngineOptions{Store: p.Store, Backend: replay, Projections: []projections.Projection{projections.Items{}}})
	require.NoError(t, err)
	for _, e := range itemEvents {
		require.NoError(t, eng.Handle(ctx, []evs.Event{e}))
	}
	want, err := replay.Dump(ctx, proj.Name())
	require.NoError(t, err)
	got, err := p.Reader.(projections.Dumper).Dump(ctx, proj.Name())
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
