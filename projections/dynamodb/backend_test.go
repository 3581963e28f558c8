package dynamodb_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	ctx := context.Background()
	client := ddb.NewFromConfig(awstest.Shared(t).Config())
	opts.Table = fmt.Sprintf("readmodels-%d", tables.Add(1))
	require.NoError(t, dynamodb.CreateTable(ctx, client, opts.Table))
	t.Cleanup(func() {
		_, err := client.DeleteTable(context.WithoutCancel(ctx), &ddb.DeleteTableInput{TableName: aws.String(opts.Table)})
		assert.NoError(t, err)
	})
	b, err := dynamodb.New(client, opts)
	require.NoError(t, err)
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
	})
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

func TestCommitTooManyWritesForOneStream(t *testing.T) {
	reset(t)
	ctx := context.Background()
	b, _ := newBackend(t, dynamodb.Options{MaxTransactItems: 5})
	tx, err := b.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.Checkpoint(ctx, "p", 1, "t1", "s1")
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, tx.ReadModel("p", 1).Put(ctx, "t1", "c", fmt.Sprint(i), []byte("v")))
	}
	require.NoError(t, tx.SetCheckpoint(ctx, "p", 1, "t1", "s1", 1))
	require.ErrorIs(t, tx.Commit(), dynamodb.ErrTooManyWrites)
	_, err = b.Get(ctx, "p", "t1", "c", "0")
	require.ErrorIs(t, err, projections.ErrNotFound)
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
