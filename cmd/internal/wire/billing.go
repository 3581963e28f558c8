package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// CloseRequest is the message billing-close sends per tenant: close every due
// period of the tenant up to Through.
type CloseRequest struct {
	TenantID string         `json:"tenant_id"`
	Through  billing.Period `json:"through"`
}

// SQSSender is the SQS call billing-close makes; *sqs.Client is one.
type SQSSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// BillingClose returns the scheduled function's handler: one SQS message per
// tenant, so each tenant's close runs (and retries) on its own.
func BillingClose(ctx context.Context, env Env) (func(context.Context, events.EventBridgeEvent) error, error) {
	p, err := openFunction(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	if env.CloseQueueURL == "" {
		return nil, errors.New("BILLING_CLOSE_QUEUE_URL is required")
	}
	q := sqs.NewFromConfig(p.AWS)
	return func(ctx context.Context, e events.EventBridgeEvent) error {
		_, err := FanOut(ctx, p.Service, q, env.CloseQueueURL, billing.PeriodOf(p.Clock.Now()).Prev())
		return err
	}, nil
}

// FanOut sends a CloseRequest for every tenant, ten per SendMessageBatch (SQS's limit).
func FanOut(ctx context.Context, svc *commands.Service, q SQSSender, queueURL string, through billing.Period) (int, error) {
	sent := 0
	var sendErr error
	var entries []sqstypes.SendMessageBatchRequestEntry
	send := func() error {
		if len(entries) == 0 {
			return nil
		}
		out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			return fmt.Errorf("send close requests: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("send close requests: %d of %d failed (%s)", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
		}
		sent += len(entries)
		entries = entries[:0]
		return nil
	}
	err := svc.EachTenant(ctx, func(t projections.TenantSummary) error {
		body, _ := json.Marshal(CloseRequest{TenantID: t.TenantID, Through: through})
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(len(entries))), MessageBody: aws.String(string(body))})
		if len(entries) < 10 {
			return nil
		}
		sendErr = send()
		return sendErr
	})
	switch {
	case sendErr != nil:
		return sent, sendErr
	case err != nil:
		return sent, fmt.Errorf("list tenants: %w", err)
	}
	return sent, send()
}

// BillingCloseWorker returns the SQS function's handler. Failed messages are
// reported one by one (ReportBatchItemFailures) so only they are retried.
func BillingCloseWorker(ctx context.Context, env Env) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	p, err := openFunction(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return CloseBatch(ctx, p.Billing, e), nil
	}, nil
}

// CloseBatch closes the periods each message asks for and lists the failures.
func CloseBatch(ctx context.Context, b *commands.Billing, e events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, m := range e.Records {
		if err := closeTenant(ctx, b, m.Body); err != nil {
			b.Log.WarnContext(ctx, "billing close failed; SQS will retry", "message_id", m.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp
}

// closeTenant closes the tenant's periods in order, from its first, so invoice
// numbers have no gaps; closing is idempotent, so redelivery is harmless.
func closeTenant(ctx context.Context, b *commands.Billing, body string) error {
	var req CloseRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		return fmt.Errorf("decode close request %q: %w", body, err)
	}
	if strings.TrimSpace(req.TenantID) == "" || req.Through.IsZero() {
		return fmt.Errorf("close request %q: tenant_id and through are required", body)
	}
	_, err := b.CloseThrough(ctx, evs.TenantID(req.TenantID), req.Through)
	return err
}
