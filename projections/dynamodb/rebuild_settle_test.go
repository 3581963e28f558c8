package dynamodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/dynamodb"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

var _ projections.SettleWindower = (*evddb.Store)(nil)

// drainHookStore runs afterEmpty once, after the next read that returns nothing:
// what it appends is committed after the rebuild's last read before the switch.
type drainHookStore struct {
	*evddb.Store
	mu         sync.Mutex
	afterEmpty func()
}

func (s *drainHookStore) ReadAll(ctx context.Context, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	page, err := s.Store.ReadAll(ctx, after, opts)
	s.mu.Lock()
	hook := s.afterEmpty
	if err == nil && len(page.Events) == 0 {
		s.afterEmpty = nil
	} else {
		hook = nil
	}
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return page, err
}

// commitHookBackend runs beforeCommit once, inside the next commit of its
// transactions, and records what the commits return.
type commitHookBackend struct {
	*dynamodb.Backend
	mu           sync.Mutex
	beforeCommit func()
	errs         []error
}

func (b *commitHookBackend) Begin(ctx context.Context) (projections.BackendTx, error) {
	tx, err := b.Backend.Begin(ctx)
	return &commitHookTx{BackendTx: tx, b: b}, err
}

type commitHookTx struct {
	projections.BackendTx
	b *commitHookBackend
}

func (t *commitHookTx) Commit() error {
	t.b.mu.Lock()
	hook := t.b.beforeCommit
	t.b.beforeCommit = nil
	t.b.mu.Unlock()
	if hook != nil {
		hook()
	}
	err := t.BackendTx.Commit()
	t.b.mu.Lock()
	t.b.errs = append(t.b.errs, err)
	t.b.mu.Unlock()
	return err
}

// newTable creates a table named after kind with create on the shared
// moto_server and deletes it afterwards.
func newTable(t *testing.T, client *ddb.Client, kind string, create func(context.Context, string) error) string {
	t.Helper()
	ctx := context.Background()
	table := fmt.Sprintf("%s-settle-%d", kind, tables.Add(1))
	require.NoError(t, create(ctx, table))
	t.Cleanup(func() {
		_, err := client.DeleteTable(context.WithoutCancel(ctx), &ddb.DeleteTableInput{TableName: aws.String(table)})
		assert.NoError(t, err)
	})
	return table
}

// twoBackends returns two Backends on one new read-model table: two processes.
func twoBackends(t *testing.T, client *ddb.Client) (*dynamodb.Backend, *dynamodb.Backend) {
	t.Helper()
	table := newTable(t, client, "readmodels", func(ctx context.Context, table string) error {
		return dynamodb.CreateTable(ctx, client, table)
	})
	a, err := dynamodb.New(client, dynamodb.Options{Table: table})
	require.NoError(t, err)
	b, err := dynamodb.New(client, dynamodb.Options{Table: table})
	require.NoError(t, err)
	return a, b
}

// On the DynamoDB store and backend, with a projector (its own engine and
// Backend, as a projector function) applying live events: an event committed
// after the rebuild's last read and applied to the old generation before the
// switch reaches the new generation once, although after the switch the
// projector applies it there first and the rebuild's commit conflicts with it.
func TestRebuildOnDynamoDBKeepsEventsTheProjectorAppliedDuringIt(t *testing.T) {
	ctx := context.Background()
	client := ddb.NewFromConfig(awstest.Shared(t).Config())
	rebuildBackend, projectorBackend := twoBackends(t, client)
	eventsTable := newTable(t, client, "events", func(ctx context.Context, table string) error {
		return evddb.CreateTable(ctx, client, table)
	})
	inner := evddb.New(client, eventsTable, evddb.WithSettleWindow(300*time.Millisecond))
	assert.Equal(t, 300*time.Millisecond, inner.SettleWindow())
	assert.Equal(t, 5*time.Second, evddb.New(client, "any").SettleWindow(), "the default window")
	store := &drainHookStore{Store: inner}
	hooked := &commitHookBackend{Backend: rebuildBackend}

	add := func(tenant events.TenantID, stream events.StreamID) events.Event {
		res, err := inner.Append(ctx, events.AppendRequest{Tenant: tenant, Stream: stream, StreamType: "n", Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(`{}`)}}})
		require.NoError(t, err)
		return res.Events[0]
	}
	projector, err := projections.NewEngine(projections.EngineOptions{Store: inner, Backend: projectorBackend,
		Projections: []projections.Projection{projectiontest.Tally{}}})
	require.NoError(t, err)
	rebuilder, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: hooked,
		Projections: []projections.Projection{projectiontest.Tally{}}})
	require.NoError(t, err)

	var history []events.Event
	for range 3 {
		history = append(history, add("t1", "s1"), add("t2", "s2"))
	}
	require.NoError(t, projector.Handle(ctx, history))

	var late events.Event
	var phases []string
	progress := func(p projections.Progress) {
		if len(phases) > 0 && phases[len(phases)-1] == p.Phase {
			return
		}
		phases = append(phases, p.Phase)
		switch p.Phase {
		case projections.PhaseCatchingUp:
			store.mu.Lock()
			store.afterEmpty = func() {
				late = add("t1", "s1")
				require.NoError(t, projector.Handle(ctx, []events.Event{late}), "applied to the old generation")
			}
			store.mu.Unlock()
		case projections.PhaseSettling:
			// The settling drain's commit of the late event races the projector's
			// redelivery of it, which now goes to the new generation.
			hooked.mu.Lock()
			hooked.beforeCommit = func() { require.NoError(t, projector.Handle(ctx, []events.Event{late})) }
			hooked.mu.Unlock()
		}
	}
	require.NoError(t, rebuilder.Rebuild(ctx, "tally", projections.RebuildOptions{Progress: progress}))
	assert.Equal(t, []string{projections.PhaseRebuilding, projections.PhaseCatchingUp, projections.PhaseSettling, projections.PhaseSwitched}, phases)
	require.NotEmpty(t, late.ID, "the late event was appended after the last read before the switch")

	var conflicts int
	for _, err := range hooked.errs {
		if err != nil {
			require.ErrorIs(t, err, dynamodb.ErrConflict)
			require.ErrorIs(t, err, projections.ErrConflict)
			conflicts++
		}
	}
	assert.Equal(t, 1, conflicts, "the settling drain's commit conflicted once and was retried")

	count := func(tenant events.TenantID) string {
		v, err := rebuildBackend.Get(ctx, "tally", tenant, "c", "n")
		require.NoError(t, err)
		return string(v)
	}
	assert.Equal(t, "4", count("t1"), "the late event is in the new generation")
	assert.Equal(t, "3", count("t2"))
	for _, tenant := range []events.TenantID{"t1", "t2"} {
		applied, err := rebuildBackend.List(ctx, "tally", tenant, "applied", "", 0)
		require.NoError(t, err)
		for _, e := range applied {
			assert.Equal(t, "1", string(e.Value), "event %s applied once", e.Key)
		}
	}
}

// A projector batch that chose the generation before a switch and commits after
// it fails on the generation state's rev, so its redelivery goes to the new
// generation instead of writing to the old one.
func TestCommitConditionedOnGeneration(t *testing.T) {
	ctx := context.Background()
	b, other := twoBackends(t, ddb.NewFromConfig(awstest.Shared(t).Config()))

	tx, err := b.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	gen, err := tx.ActiveGeneration(ctx, "p", "t1")
	require.NoError(t, err)
	require.Equal(t, int64(1), gen)
	_, err = tx.Checkpoint(ctx, "p", gen, "t1", "s1")
	require.NoError(t, err)
	require.NoError(t, tx.ReadModel("p", gen).Put(ctx, "t1", "c", "k", []byte("v")))
	require.NoError(t, tx.SetCheckpoint(ctx, "p", gen, "t1", "s1", 1))

	sw, err := other.Begin(ctx)
	require.NoError(t, err)
	next, err := sw.NewGeneration(ctx, "p")
	require.NoError(t, err)
	require.NoError(t, sw.SwitchGeneration(ctx, "p", "", next))
	require.NoError(t, sw.Commit())

	err = tx.Commit()
	require.ErrorIs(t, err, dynamodb.ErrConflict)
	require.ErrorIs(t, err, projections.ErrConflict)
	check, err := b.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = check.Rollback() }()
	cp, err := check.Checkpoint(ctx, "p", 1, "t1", "s1")
	require.NoError(t, err)
	assert.Zero(t, cp, "nothing of the conflicting batch was written to the old generation")
}
