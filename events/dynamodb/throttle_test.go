package dynamodb_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
)

// throttling answers with err, as DynamoDB does once the SDK's retries are spent,
// while on is set: on the transaction or on the reads before it.
type throttling struct {
	*fakeDynamo
	on     atomic.Bool
	err    error
	onRead bool
}

func (c *throttling) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	if c.on.Load() && !c.onRead {
		return nil, c.err
	}
	return c.fakeDynamo.TransactWriteItems(ctx, in, opts...)
}

// PutItem is a single-event append's write (and the tenant registry's).
func (c *throttling) PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	if c.on.Load() && !c.onRead {
		return nil, c.err
	}
	return c.fakeDynamo.PutItem(ctx, in, opts...)
}

func (c *throttling) Query(ctx context.Context, in *ddb.QueryInput, opts ...func(*ddb.Options)) (*ddb.QueryOutput, error) {
	if c.on.Load() && c.onRead {
		return nil, c.err
	}
	return c.fakeDynamo.Query(ctx, in, opts...)
}

// TestThrottledAppendIsUnavailable: an append DynamoDB refuses for capacity fails
// with events.ErrUnavailable (a 503 with Retry-After), not an internal error, and
// succeeds once capacity is back.
func TestThrottledAppendIsUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		onRead bool
	}{
		{"provisioned throughput on the write", &ddbtypes.ProvisionedThroughputExceededException{Message: aws.String("slow down")}, false},
		{"request limit on the write", &ddbtypes.RequestLimitExceeded{Message: aws.String("slow down")}, false},
		{"throttling on the head read", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, true},
	}
	for _, tt := range tests {
		// One event is a conditional PutItem, two a transaction.
		for _, n := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s, %d events", tt.name, n), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				client := &throttling{fakeDynamo: newFakeDynamo(), err: tt.err, onRead: tt.onRead}
				require.NoError(t, dynamodb.CreateTable(ctx, client, "events"))
				s := dynamodb.New(client, "events")
				// AnyVersion: the head is read (a Query) before the write.
				req := events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.AnyVersion, Events: newEvents(n, false)}
				// The tenant's registry item first, so the throttled write is the event's.
				_, err := s.Append(ctx, events.AppendRequest{Tenant: "t1", Stream: "warm", Expected: events.AnyVersion, Events: newEvents(1, false)})
				require.NoError(t, err)
				client.on.Store(true)
				_, err = s.Append(ctx, req)
				require.ErrorIs(t, err, events.ErrUnavailable)
				assert.ErrorIs(t, err, tt.err, "the cause is kept")
				client.on.Store(false)
				res, err := s.Append(ctx, req)
				require.NoError(t, err)
				assert.Equal(t, int64(1), res.Events[0].Version)
			})
		}
	}
}
