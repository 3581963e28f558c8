package dynamodb_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/events/storetest"
	"github.com/tenantstream/tenantstream/handlers/awstest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var tableSeq atomic.Int64

// motoTable creates a fresh table for one test and deletes it afterwards: moto copies
// a table on every transaction, so small tables keep the suite fast, and parallel
// tests sharing one moto_server cannot use Reset.
func motoTable(t *testing.T) (*ddb.Client, string) {
	t.Helper()
	m := awstest.Shared(t)
	client := ddb.NewFromConfig(m.Config())
	table := fmt.Sprintf("events-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, dynamodb.CreateTable(ctx, client, table))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := client.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(table)})
		require.NoError(t, err)
	})
	return client, table
}

func TestContractOnMoto(t *testing.T) {
	storetest.RunWith(t, storetest.Options{SkipConcurrency: true}, func(t *testing.T, clk clock.Clock) events.Store {
		client, table := motoTable(t)
		return dynamodb.New(client, table, dynamodb.WithClock(clk))
	})
}

func TestContractOnConcurrencyCorrectFake(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk clock.Clock) events.Store {
		client := newFakeDynamo()
		require.NoError(t, dynamodb.CreateTable(context.Background(), client, "events"))
		return dynamodb.New(client, "events", dynamodb.WithClock(clk))
	})
}
