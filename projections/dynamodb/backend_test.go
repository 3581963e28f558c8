package dynamodb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/dynamodb"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var tables atomic.Int64

// newBackend creates a fresh table on the shared moto_server and deletes it
// afterwards, so parallel subtests never share or wipe each other's data.
func newBackend(t *testing.T, opts dynamodb.Options) (*dynamodb.Backend, *ddb.Client) {
	t.Helper()
	return newBackendVia(t, opts, nil)
}

// newBackendVia is newBackend with the Backend's requests going through wrap.
func newBackendVia(t *testing.T, opts dynamodb.Options, wrap func(dynamodb.Client) dynamodb.Client) (*dynamodb.Backend, *ddb.Client) {
	t.Helper()
	ctx := context.Background()
	client := ddb.NewFromConfig(awstest.Shared(t).Config())
	opts.Table = fmt.Sprintf("readmodels-%d", tables.Add(1))
	require.NoError(t, dynamodb.CreateTable(ctx, client, opts.Table))
	t.Cleanup(func() {
		_, err := client.DeleteTable(context.WithoutCancel(ctx), &ddb.DeleteTableInput{TableName: aws.String(opts.Table)})
		assert.NoError(t, err)
	})
	var c dynamodb.Client = isolate(client, opts.Table)
	if wrap != nil {
		c = wrap(c) // still isolated: moto does not serialize transactions
	}
	b, err := dynamodb.New(c, opts)
	require.NoError(t, err)
	tableNames.Store(projections.Backend(b), backendTable{client: c, table: opts.Table})
	return b, client
}

func reset(t *testing.T) {
	t.Helper()
	require.NoError(t, awstest.Shared(t).Reset(context.Background()))
}

func TestBackendContract(t *testing.T) {
	reset(t)
	projectiontest.RunBackend(t, func(t *testing.T) projections.Backend {
		b, _ := newBackend(t, dynamodb.Options{})
		return b
	}, projectiontest.Sibling(sibling))
}

// sibling opens a second Backend on b's table, as a concurrent projector
// Lambda does: its own in-process lock, so only the table's conditions order
// the two.
func sibling(t *testing.T, b projections.Backend) projections.Backend {
	t.Helper()
	v, ok := tableNames.Load(b)
	require.True(t, ok)
	tn := v.(backendTable)
	other, err := dynamodb.New(tn.client, dynamodb.Options{Table: tn.table})
	require.NoError(t, err)
	return other
}

type backendTable struct {
	client dynamodb.Client
	table  string
}

// tableNames maps the Backends newBackendVia made to their client and table.
var tableNames sync.Map

// On moto two projectors interleave only by chance; here the first commit of
// each waits until both have read the tenant's totals, so at least that round
// loses a delta unless the write of the totals is conditioned on the value read
// and the loser applies its batch again (docs/ARCHITECTURE.md, "Projections").
func TestConcurrentTotalsInterleaved(t *testing.T) {
	reset(t)
	r := &race{}
	r.read.Add(2)
	b, client := newBackendVia(t, dynamodb.Options{}, (&racingClient{r: r}).wrap)
	v, _ := tableNames.Load(b)
	table := v.(backendTable).table
	other, err := dynamodb.New((&racingClient{r: r}).wrap(isolate(client, table)), dynamodb.Options{Table: table})
	require.NoError(t, err)
	projectiontest.RaceTotals(t, b, func(*testing.T, projections.Backend) projections.Backend { return other })
	assert.Positive(t, r.conflicts.Load(), "the projectors did race")
	t.Logf("%d commits lost the race and were applied again", r.conflicts.Load())
}

// isolated runs one table's TransactWriteItems one at a time. DynamoDB's
// transactions are serializable; moto's threaded server checks a transaction's
// conditions and applies its writes without a lock, so two transactions racing
// there can both pass a condition on the same item (seen once in a loaded run
// as a lost delta). Point reads are not held, so projectors still interleave.
type isolated struct {
	dynamodb.Client
	mu *sync.Mutex
}

var tableLocks sync.Map // table name -> *sync.Mutex

func isolate(c dynamodb.Client, table string) dynamodb.Client {
	mu, _ := tableLocks.LoadOrStore(table, &sync.Mutex{})
	return &isolated{Client: c, mu: mu.(*sync.Mutex)}
}

func (c *isolated) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

// race is shared by the racingClients of two Backends.
type race struct {
	read      sync.WaitGroup // done when both have read the totals once
	conflicts atomic.Int64
}

// racingClient holds a Backend's first commit until the other Backend has read
// the tenant's totals too.
type racingClient struct {
	dynamodb.Client
	r      *race
	once   sync.Once
	waited atomic.Bool
}

func (c *racingClient) wrap(inner dynamodb.Client) dynamodb.Client {
	c.Client = inner
	return c
}

func (c *racingClient) GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	out, err := c.Client.GetItem(ctx, in, opts...)
	if sk, ok := in.Key["SK"].(*types.AttributeValueMemberS); ok && sk.Value == "K#"+projections.StorageKey {
		c.once.Do(c.r.read.Done)
	}
	return out, err
}

func (c *racingClient) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	if !c.waited.Swap(true) {
		done := make(chan struct{})
		go func() { c.r.read.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	out, err := c.Client.TransactWriteItems(ctx, in, opts...)
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		c.r.conflicts.Add(1)
	}
	return out, err
}

// With room for only a few actions per transaction, a batch is split between
// streams and the contract still holds.
func TestBackendContractSplitTransactions(t *testing.T) {
	reset(t)
	projectiontest.RunBackend(t, func(t *testing.T) projections.Backend {
		b, _ := newBackend(t, dynamodb.Options{MaxTransactItems: 6})
		return b
	})
}

func TestCommitConditionedOnCheckpoint(t *testing.T) {
	reset(t)
	ctx := context.Background()
	b, client := newBackend(t, dynamodb.Options{})
	// A second Backend on the same table stands for a concurrent Lambda: it has
	// its own in-process lock, so only the table's conditions order the two.
	other, err := dynamodb.New(client, dynamodb.Options{Table: tableOf(t, client)})
	require.NoError(t, err)

	apply := func(b projections.Backend, value string) (projections.BackendTx, error) {
		tx, err := b.Begin(ctx)
		require.NoError(t, err)
		cp, err := tx.Checkpoint(ctx, "p", 1, "t1", "s1")
		require.NoError(t, err)
		require.Zero(t, cp)
		require.NoError(t, tx.ReadModel("p", 1).Put(ctx, "t1", "c", "k", []byte(value)))
		require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s1", 3))
		return tx, nil
	}
	first, _ := apply(b, "first")
	second, _ := apply(other, "second")
	require.NoError(t, first.Commit())
	err = second.Commit()
	require.ErrorIs(t, err, dynamodb.ErrConflict, "the duplicate invocation must not apply the events again")
	v, err := b.Get(ctx, "p", "t1", "c", "k")
	require.NoError(t, err)
	assert.Equal(t, "first", string(v))
}

// One stream's writes that the transaction never read (a set's members) may
// exceed one transaction: they commit first, in transactions guarded by the
// checkpoint, and the checkpoint commits last (docs/ARCHITECTURE.md, "Projections").
func TestCommitSplitsWritesOfValuesNotRead(t *testing.T) {
	reset(t)
	ctx := context.Background()
	cc := &countingClient{}
	b, _ := newBackendVia(t, dynamodb.Options{MaxTransactItems: 5}, cc.wrap)
	tx, err := b.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Checkpoint(ctx, "p", 1, "t1", "s1")
	require.NoError(t, err)
	for i := range 12 {
		require.NoError(t, tx.ReadModel("p", 1).Put(ctx, "t1", "c", fmt.Sprint(i), []byte("v")))
	}
	require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s1", 1))
	require.NoError(t, tx.Commit())
	// 12 writes and the checkpoint: 4 in the last transaction, 8 in two before
	// it, each with a check of the checkpoint.
	assert.EqualValues(t, 3, cc.transactions.Load())
	got, err := b.List(ctx, "p", "t1", "c", "", 100)
	require.NoError(t, err)
	assert.Len(t, got, 12)
	tx, err = b.Begin(ctx)
	require.NoError(t, err)
	cp, err := tx.Checkpoint(ctx, "p", 1, "t1", "s1")
	require.NoError(t, err)
	assert.EqualValues(t, 1, cp)
	require.NoError(t, tx.Rollback())
}

// Writes of values the transaction read must commit with the checkpoint; more
// of them than a transaction holds cannot commit at all.
func TestCommitTooManyWritesOfValuesRead(t *testing.T) {
	reset(t)
	ctx := context.Background()
	b, _ := newBackend(t, dynamodb.Options{MaxTransactItems: 5})
	tx, err := b.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.Checkpoint(ctx, "p", 1, "t1", "s1")
	require.NoError(t, err)
	rm := tx.ReadModel("p", 1)
	for i := range 5 {
		_, err := rm.Get(ctx, "t1", "c", fmt.Sprint(i))
		require.ErrorIs(t, err, projections.ErrNotFound)
		require.NoError(t, rm.Put(ctx, "t1", "c", fmt.Sprint(i), []byte("v")))
	}
	require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s1", 1))
	require.ErrorIs(t, tx.Commit(), dynamodb.ErrTooManyWrites)
	_, err = b.Get(ctx, "p", "t1", "c", "0")
	require.ErrorIs(t, err, projections.ErrNotFound)
}

// wide reads and writes n keys per event, so its writes must all commit with
// the checkpoint.
type wide struct{ n int }

func (wide) Name() string      { return "wide" }
func (wide) Handles() []string { return []string{"n.added"} }
func (w wide) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	n := w.n
	if string(ev.Data) == `{"small":true}` {
		n = 1
	}
	for i := range n {
		k := fmt.Sprint(i)
		c := 0
		if v, err := tx.Get(ctx, ev.TenantID, "c", k); err == nil {
			c, _ = strconv.Atoi(string(v))
		} else if !errors.Is(err, projections.ErrNotFound) {
			return err
		}
		if err := tx.Put(ctx, ev.TenantID, "c", k, []byte(strconv.Itoa(c+1))); err != nil {
			return err
		}
	}
	return nil
}

// An event that can never commit is parked with the reason, and its stream
// goes on: it must not fail every delivery of the batch.
func TestEngineParksAnEventTooLargeToCommit(t *testing.T) {
	reset(t)
	ctx := context.Background()
	b, _ := newBackend(t, dynamodb.Options{MaxTransactItems: 5})
	store := memstore.New()
	var evs []events.Event
	for _, data := range []string{`{"small":true}`, `{}`, `{"small":true}`} {
		res, err := store.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "s1", Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "n.added", Data: json.RawMessage(data)}}})
		require.NoError(t, err)
		evs = append(evs, res.Events[0])
	}
	eng, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: b, Projections: []projections.Projection{wide{n: 6}}})
	require.NoError(t, err)
	require.NoError(t, eng.Handle(ctx, evs))
	parked, err := eng.Parked(ctx, "wide")
	require.NoError(t, err)
	require.Len(t, parked, 1)
	assert.Equal(t, evs[1].ID, parked[0].EventID)
	assert.Contains(t, parked[0].Reason, "more than the 5 of one transaction")
	v, err := b.Get(ctx, "wide", "t1", "c", "0")
	require.NoError(t, err)
	assert.Equal(t, "2", string(v), "the events before and after it applied")
	_, err = b.Get(ctx, "wide", "t1", "c", "1")
	require.ErrorIs(t, err, projections.ErrNotFound, "the parked event wrote nothing")
	require.NoError(t, eng.Handle(ctx, evs), "a redelivery skips all three")
	v, err = b.Get(ctx, "wide", "t1", "c", "0")
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
}

// countingClient counts the requests a Backend makes.
type countingClient struct {
	dynamodb.Client
	gets, transactions atomic.Int64
}

func (c *countingClient) wrap(inner dynamodb.Client) dynamodb.Client {
	c.Client = inner
	return c
}

func (c *countingClient) GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	c.gets.Add(1)
	return c.Client.GetItem(ctx, in, opts...)
}

func (c *countingClient) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	c.transactions.Add(1)
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

func tableOf(t *testing.T, client *ddb.Client) string {
	t.Helper()
	out, err := client.ListTables(context.Background(), &ddb.ListTablesInput{})
	require.NoError(t, err)
	for _, n := range out.TableNames {
		if strings.HasPrefix(n, "readmodels-") {
			return n
		}
	}
	t.Fatal("no read-model table")
	return ""
}
