package wire

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/projections"
)

type fakeQueue struct{ batches [][]string }

func (f *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	var b []string
	for _, e := range in.Entries {
		b = append(b, aws.ToString(e.MessageBody))
	}
	f.batches = append(f.batches, b)
	return &sqs.SendMessageBatchOutput{}, nil
}

// Fan-out sends one message per tenant in batches of ten, and the worker closes
// each tenant's periods, reporting only the bad messages as failures.
func TestFanOutAndWorkerWithPartialFailures(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewTest(time.Date(2026, 9, 15, 0, 0, 0, 0, time.UTC))
	store := memstore.New(memstore.WithClock(clk))
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: projections.NewMemoryBackend(), Clock: clk})
	require.NoError(t, err)
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	cat := catalog.Default()
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher}
	b := &commands.Billing{Service: svc, Catalog: cat, Log: slog.Default()}
	var ids []string
	for i := range 12 {
		out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "t" + string(rune('a'+i)) + "corp", Email: "a@x.test", Password: "Sup3r-secret!"}, nil)
		require.NoError(t, err)
		ids = append(ids, out.TenantID)
	}
	page, err := store.ReadAll(ctx, "", evs.ReadOptions{Limit: 1000})
	require.NoError(t, err)
	require.NoError(t, engine.Handle(ctx, page.Events))

	q := &fakeQueue{}
	through := billing.Period{Year: 2026, Month: 10}
	n, err := FanOut(ctx, svc, q, "queue", through)
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	require.Len(t, q.batches, 2)
	assert.Len(t, q.batches[0], 10)
	var bodies string
	for _, b := range q.batches {
		bodies += strings.Join(b, "\n")
	}
	for _, id := range ids {
		assert.Contains(t, bodies, id, "one close message per tenant")
	}

	require.NoError(t, clk.Set(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)))
	e := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: q.batches[0][0]},
		{MessageId: "m2", Body: `{"tenant_id":"","through":"2026-10"}`},
		{MessageId: "m3", Body: `not json`},
		{MessageId: "m4", Body: `{"tenant_id":"0196f2b4-1c2d-7000-8000-00000000abcd","through":"2026-10"}`},
	}}
	resp := CloseBatch(ctx, b, e)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m2"}, {ItemIdentifier: "m3"}, {ItemIdentifier: "m4"}}, resp.BatchItemFailures)
	var req CloseRequest
	require.NoError(t, json.Unmarshal([]byte(q.batches[0][0]), &req))
	for _, p := range []billing.Period{{Year: 2026, Month: 9}, {Year: 2026, Month: 10}} {
		evs, err := store.Load(ctx, evs.TenantID(req.TenantID), evs.StreamID(commands.InvoiceStreamID(p)), 1)
		require.NoError(t, err, "invoice for %s", p)
		assert.Len(t, evs, 1)
	}
	assert.Empty(t, CloseBatch(ctx, b, events.SQSEvent{Records: e.Records[:1]}).BatchItemFailures, "a redelivered close changes nothing")
}
