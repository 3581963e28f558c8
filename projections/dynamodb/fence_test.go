package dynamodb_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/dynamodb"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

// genCounting counts the reads of generation states and the condition checks
// of the transactions sent through it.
type genCounting struct {
	dynamodb.Client
	genReads, checks atomic.Int64
}

func (c *genCounting) GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	if s(in.Key["SK"]) == "GEN" {
		c.genReads.Add(1)
	}
	return c.Client.GetItem(ctx, in, opts...)
}

func (c *genCounting) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		if it.ConditionCheck != nil && strings.HasPrefix(s(it.ConditionCheck.Key["PK"]), "P#") {
			c.checks.Add(1)
		}
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

// TestStaleFencedGenerationLosesNothingAcrossASwitch races a projector that
// holds a cached generation state (docs/ARCHITECTURE.md, "Generation fence")
// with a rebuild that switches the generation under it. While its cache covers
// an event's recorded_at the projector keeps writing to the old generation,
// without reading or checking the state; the rebuild, which waits the fence out
// after its switch, applies those events to the new generation; once an event is
// recorded past the fence the projector reads the state again and writes to the
// new generation. Nothing is lost or applied twice in the generation read.
func TestStaleFencedGenerationLosesNothingAcrossASwitch(t *testing.T) {
	ctx := context.Background()
	client := ddb.NewFromConfig(awstest.Shared(t).Config())
	// The fence is long enough for the rebuild before its switch on a loaded
	// machine: the projector must still hold its first read then.
	const fence, settle = 5 * time.Second, 200 * time.Millisecond
	table := newTable(t, client, "readmodels", func(ctx context.Context, table string) error {
		return dynamodb.CreateTable(ctx, client, table)
	})
	counted := &genCounting{Client: client}
	projectorBackend, err := dynamodb.New(counted, dynamodb.Options{Table: table, GenerationFence: fence})
	require.NoError(t, err)
	rebuildBackend, err := dynamodb.New(client, dynamodb.Options{Table: table, GenerationFence: fence})
	require.NoError(t, err)
	assert.Equal(t, fence, rebuildBackend.GenerationFence())
	eventsTable := newTable(t, client, "events", func(ctx context.Context, table string) error {
		return evddb.CreateTable(ctx, client, table)
	})
	store := evddb.New(client, eventsTable, evddb.WithSettleWindow(settle))
	add := func(stream events.StreamID) events.Event {
		res, err := store.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: stream, StreamType: "n", Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(`{}`)}}})
		require.NoError(t, err)
		return res.Events[0]
	}
	projector, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projectorBackend,
		Projections: []projections.Projection{projectiontest.Tally{}}})
	require.NoError(t, err)
	rebuilder, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: rebuildBackend,
		Projections: []projections.Projection{projectiontest.Tally{}}})
	require.NoError(t, err)

	// The history, through a projector of its own.
	warmBackend, err := dynamodb.New(client, dynamodb.Options{Table: table, GenerationFence: fence})
	require.NoError(t, err)
	warm, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: warmBackend,
		Projections: []projections.Projection{projectiontest.Tally{}}})
	require.NoError(t, err)
	for i := range 4 {
		require.NoError(t, warm.Handle(ctx, []events.Event{add(events.StreamID([]string{"a", "b"}[i%2]))}))
	}
	// The projector under test reads the state as the rebuild starts its last
	// catch-up before the switch (so its read is shortly before the switch,
	// however slow the machine), then applies batches inside the fence.
	var firstRead time.Time
	prime := func() {
		firstRead = time.Now()
		for i := range 3 {
			require.NoError(t, projector.Handle(ctx, []events.Event{add(events.StreamID([]string{"a", "b"}[i%2]))}))
		}
		assert.Equal(t, int64(1), counted.genReads.Load(), "one state read for three batches inside the fence")
		assert.Zero(t, counted.checks.Load(), "no generation check in the commits")
	}

	oldGenCount := func() (string, error) {
		tx, err := rebuildBackend.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		v, err := tx.ReadModel("tally", 1).Get(ctx, "t1", "c", "n")
		return string(v), err
	}
	var staleInOld string
	var stale, staler events.Event
	var switchedAt time.Time
	done := make(chan struct{})
	progress := func(p projections.Progress) {
		if p.Phase == projections.PhaseCatchingUp && firstRead.IsZero() {
			prime()
		}
		if p.Phase != projections.PhaseSettling || stale.ID != "" {
			return
		}
		// Switched: the projector's cached state still names generation 1.
		switchedAt = time.Now()
		require.Less(t, switchedAt.Sub(firstRead), fence-time.Second, "the rebuild switched too late for the projector to hold a stale state")
		stale = add("a")
		require.NoError(t, projector.Handle(ctx, []events.Event{stale}))
		var err error
		staleInOld, err = oldGenCount()
		require.NoError(t, err)
		// Past the store's settle window, still inside the fence: without the
		// rebuild waiting the fence out, its last catch-up would be over and
		// this event would reach the old generation only.
		go func() {
			defer close(done)
			time.Sleep(settle + 500*time.Millisecond)
			staler = add("b")
			assert.NoError(t, projector.Handle(ctx, []events.Event{staler}))
		}()
	}
	require.NoError(t, rebuilder.Rebuild(ctx, "tally", projections.RebuildOptions{Progress: progress}))
	<-done
	require.NotEmpty(t, stale.ID)
	require.NotEmpty(t, staler.ID)
	assert.GreaterOrEqual(t, time.Since(switchedAt), fence+settle-50*time.Millisecond, "the rebuild waited the fence and the settle window after its switch")
	assert.Equal(t, "8", staleInOld, "the stale projector wrote the event to the old generation, unchecked")
	assert.Equal(t, int64(1), counted.genReads.Load(), "the stale projector did not read the state")

	count := func() string {
		v, err := rebuildBackend.Get(ctx, "tally", "t1", "c", "n") // not through counted: a query reads the state too
		require.NoError(t, err)
		return string(v)
	}
	assert.Equal(t, "9", count(), "the rebuild's last catch-up applied the stale projector's events to the new generation")

	// Recorded past the fence of the projector's read: it reads the state again
	// and writes to the new generation.
	late := add("b")
	require.NoError(t, projector.Handle(ctx, []events.Event{late}))
	assert.Equal(t, int64(2), counted.genReads.Load())
	assert.Equal(t, "10", count(), "the event after the fence reaches the generation queries read")
	_, err = oldGenCount()
	assert.ErrorIs(t, err, projections.ErrNotFound, "and not to the old one, which the rebuild dropped")
	applied, err := rebuildBackend.List(ctx, "tally", "t1", "applied", "", 0)
	require.NoError(t, err)
	require.Len(t, applied, 10)
	for _, e := range applied {
		assert.Equal(t, "1", string(e.Value), "event %s applied once", e.Key)
	}
}

// A state read fresh that does not cover the batch (an appender's clock far
// ahead of the projector's) is checked in the commit as without a fence, so a
// switch between the read and the commit fails the commit; one that covers it
// is not checked, and the commit goes to the generation it read.
func TestFenceFallsBackToTheCheck(t *testing.T) {
	ctx := context.Background()
	client := ddb.NewFromConfig(awstest.Shared(t).Config())
	table := newTable(t, client, "readmodels", func(ctx context.Context, table string) error {
		return dynamodb.CreateTable(ctx, client, table)
	})
	for _, tc := range []struct {
		name     string
		newest   time.Time
		wantErr  bool
		wantGen1 bool
	}{
		{"recorded now: fenced, unchecked", time.Now(), false, true},
		{"recorded an hour ahead: checked", time.Now().Add(time.Hour), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			projection := "p-" + strings.ReplaceAll(tc.name[:11], " ", "-")
			b, err := dynamodb.New(client, dynamodb.Options{Table: table, GenerationFence: time.Second})
			require.NoError(t, err)
			other, err := dynamodb.New(client, dynamodb.Options{Table: table, GenerationFence: time.Second})
			require.NoError(t, err)
			tx, err := b.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			lb, ok := tx.(projections.LiveBatch)
			require.True(t, ok)
			lb.ApplyingRecordedUntil(tc.newest)
			gen, err := tx.ActiveGeneration(ctx, projection, "t1")
			require.NoError(t, err)
			require.Equal(t, int64(1), gen)
			_, err = tx.Checkpoint(ctx, projection, gen, "t1", "s1")
			require.NoError(t, err)
			require.NoError(t, tx.ReadModel(projection, gen).Put(ctx, "t1", "c", "k", []byte("v")))
			require.NoError(t, tx.SetCheckpoint(ctx, projection, gen, "t1", "s1", 1))

			sw, err := other.Begin(ctx)
			require.NoError(t, err)
			next, err := sw.NewGeneration(ctx, projection)
			require.NoError(t, err)
			require.NoError(t, sw.SwitchGeneration(ctx, projection, "", next))
			require.NoError(t, sw.Commit())

			err = tx.Commit()
			if tc.wantErr {
				require.ErrorIs(t, err, dynamodb.ErrConflict)
			} else {
				require.NoError(t, err)
			}
			check, err := b.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = check.Rollback() }()
			cp, err := check.Checkpoint(ctx, projection, 1, "t1", "s1")
			require.NoError(t, err)
			if tc.wantGen1 {
				assert.Equal(t, int64(1), cp)
			} else {
				assert.Zero(t, cp, "nothing of the conflicting batch was written")
			}
		})
	}
}

func s(av types.AttributeValue) string {
	if v, ok := av.(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// A cached state serves only within the fence of its read in wall time too: a
// batch of old events (a redelivery, or a store clock behind ours) does not keep
// a stale state alive past the fence.
func TestFencedStateExpiresInWallTime(t *testing.T) {
	ctx := context.Background()
	client := ddb.NewFromConfig(awstest.Shared(t).Config())
	table := newTable(t, client, "readmodels", func(ctx context.Context, table string) error {
		return dynamodb.CreateTable(ctx, client, table)
	})
	counted := &genCounting{Client: client}
	const fence = 300 * time.Millisecond
	b, err := dynamodb.New(counted, dynamodb.Options{Table: table, GenerationFence: fence})
	require.NoError(t, err)
	active := func(newest time.Time) {
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		tx.(projections.LiveBatch).ApplyingRecordedUntil(newest)
		_, err = tx.ActiveGeneration(ctx, "p", "t1")
		require.NoError(t, err)
	}
	old := time.Now().Add(-time.Hour)
	active(old)
	active(old)
	assert.Equal(t, int64(1), counted.genReads.Load(), "reused within the fence")
	time.Sleep(fence + 50*time.Millisecond)
	active(old)
	assert.Equal(t, int64(2), counted.genReads.Load(), "read again once the fence has passed, however old the events")
	active(time.Now().Add(2 * fence))
	assert.Equal(t, int64(3), counted.genReads.Load(), "and for events recorded past it")
}
