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
	ident "github.com/tenantstream/tenantstream/domain/identity"
	evs "github.com/tenantstream/tenantstream/events"
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
	p, err := open(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	if env.CloseQueueURL == "" {
		return nil, errors.New("BILLING_CLOSE_QUEUE_URL is required")
	}
	q := sqs.NewFromConfig(p.aws)
	return func(ctx context.Context, e events.EventBridgeEvent) error {
		_, err := FanOut(ctx, p.service, q, env.CloseQueueURL, billing.PeriodOf(p.clock.Now()).Prev())
		return err
	}, nil
}

// FanOut sends a CloseRequest for every tenant, ten per SendMessageBatch (SQS's limit).
func FanOut(ctx context.Context, svc *commands.Service, q SQSSender, queueURL string, through billing.Period) (int, error) {
	sent, after := 0, ""
	for {
		tenants, err := svc.ListTenants(ctx, after, 500)
		if err != nil {
			return sent, fmt.Errorf("list tenants: %w", err)
		}
		for i := 0; i < len(tenants); i += 10 {
			var entries []sqstypes.SendMessageBatchRequestEntry
			for j, t := range tenants[i:min(i+10, len(tenants))] {
				body, _ := json.Marshal(CloseRequest{TenantID: t.TenantID, Through: through})
				entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(string(body))})
			}
			out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
			if err != nil {
				return sent, fmt.Errorf("send close requests: %w", err)
			}
			if len(out.Failed) > 0 {
				return sent, fmt.Errorf("send close requests: %d of %d failed (%s)", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
			}
			sent += len(entries)
		}
		if len(tenants) < 500 {
			return sent, nil
		}
		after = tenants[len(tenants)-1].TenantID
	}
}

// BillingCloseWorker returns the SQS function's handler. Failed messages are
// reported one by one (ReportBatchItemFailures) so only they are retried.
func BillingCloseWorker(ctx context.Context, env Env) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	p, err := open(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return CloseBatch(ctx, p.billing, e), nil
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
	admin := commands.Meta{Principal: ident.Principal{UserID: "billing-close", Roles: []string{ident.RolePlatformAdmin}}}
	t, err := b.Service.GetTenant(ctx, admin, req.TenantID)
	if err != nil {
		return fmt.Errorf("load tenant %s: %w", req.TenantID, err)
	}
	for p := billing.PeriodOf(t.CreatedAt); !p.Start().After(req.Through.Start()); p = p.Next() {
		if _, err := b.Close(ctx, evs.TenantID(req.TenantID), p); err != nil {
			return fmt.Errorf("close %s %s: %w", req.TenantID, p, err)
		}
	}
	return nil
}
