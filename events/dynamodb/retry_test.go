package dynamodb_test

import (
	"context"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/dynamodb"
)

// lostAnswer commits a transaction and then, as the SDK does when the answer is
// lost, sends it again and returns the second answer (a cancellation, from an
// implementation that ignores the ClientRequestToken).
type lostAnswer struct {
	*fakeDynamo
	lose bool
}

func (l *lostAnswer) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	if l.lose {
		l.lose = false
		if _, err := l.fakeDynamo.TransactWriteItems(ctx, in, opts...); err != nil {
			return nil, err
		}
	}
	return l.fakeDynamo.TransactWriteItems(ctx, in, opts...)
}

// TestRetriedCommitIsNotADuplicateOrAConflict: a retried append whose first try
// committed answers with its events, written once, for every kind of append.
func TestRetriedCommitIsNotADuplicateOrAConflict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  events.AppendRequest
	}{
		{"exact version", events.AppendRequest{Expected: events.NoStream, Events: newEvents(2, false)}},
		{"any version", events.AppendRequest{Expected: events.AnyVersion, Events: newEvents(2, false)}},
		{"skip duplicate ids", events.AppendRequest{Expected: events.AnyVersion, SkipDuplicateIDs: true, Events: newEvents(2, true)}},
		{"claim keys", events.AppendRequest{Expected: events.AnyVersion, ClaimKeys: []string{"u1", "u2"}, Events: newEvents(1, false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &lostAnswer{fakeDynamo: newFakeDynamo()}
			require.NoError(t, dynamodb.CreateTable(context.Background(), client, "events"))
			s := dynamodb.New(client, "events")
			req := tt.req
			req.Tenant, req.Stream = "t1", "s"
			client.lose = true
			res, err := s.Append(context.Background(), req)
			require.NoError(t, err)
			assert.False(t, client.lose, "the answer was lost once")
			assert.Len(t, res.Events, len(req.Events))
			assert.Zero(t, res.Skipped)
			got, err := s.Load(context.Background(), "t1", "s", 1)
			require.NoError(t, err)
			assert.Len(t, got, len(req.Events), "written once")
		})
	}
}
