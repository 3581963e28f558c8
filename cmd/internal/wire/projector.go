package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	snsapi "github.com/aws/aws-sdk-go-v2/service/sns"

	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/handlers/emf"
	"github.com/tenantstream/tenantstream/handlers/sns"
	"github.com/tenantstream/tenantstream/projections"
)

// Publisher sends a notification; *sns.Publisher is one.
type Publisher interface {
	Publish(ctx context.Context, n projections.Notification) (string, error)
}

// Projector returns the projector function's handler. The function reads its
// projection's SQS queue through an event source mapping with
// ReportBatchItemFailures (docs/aws.md, "Delivery that cannot drop an event"):
// each record's body is one event the Pipe put on the bus, as the projection's
// rule queued it. Only the projection named by TENANTSTREAM_PROJECTION runs, as
// each projection has its own rule, queue and function. The outbox projection's
// function also publishes the notifications to SNS.
func Projector(ctx context.Context, env Env) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	if env.Projection == "" {
		return nil, errors.New("TENANTSTREAM_PROJECTION is required")
	}
	proj, ok := projections.Lookup(env.Projection)
	if !ok {
		return nil, fmt.Errorf("TENANTSTREAM_PROJECTION=%q: %w", env.Projection, projections.ErrUnknownProjection)
	}
	outbox := proj.Name() == (projections.Outbox{}).Name()
	p, err := openFunction(ctx, env, func(o *Options) error {
		o.Projections = []projections.Projection{proj}
		if outbox && env.MembersTopicARN != "" {
			// Invitations and resets are published with their one-time tokens,
			// derived from the api's own key (the cursor-key secret): the
			// outbox holds none (docs/ARCHITECTURE.md, decision 15).
			var err error
			if o.Cursors, err = cursorSealer(ctx, env, *o.AWS); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var pub Publisher
	if outbox && (env.InvoicesTopicARN != "" || env.OnboardingTopicARN != "" || env.MembersTopicARN != "") {
		sp := &sns.Publisher{Client: snsapi.NewFromConfig(p.AWS),
			Topics: sns.Topics{Invoices: env.InvoicesTopicARN, Onboarding: env.OnboardingTopicARN, Members: env.MembersTopicARN}}
		if env.MembersTopicARN != "" {
			sp.Enrich = p.Service.EnrichNotification
		}
		pub = sp
	}
	return func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return ProjectBatch(ctx, p, proj, pub, e), nil
	}, nil
}

// ProjectBatch projects each record of an SQS batch on its own and lists the
// records that failed in BatchItemFailures, so the event source mapping deletes
// the others and only the failed ones become visible again after the queue's
// visibility timeout; after maxReceiveCount receives SQS moves a record to the
// projection's dead-letter queue, from which `tenantstream projections redrive`
// brings it back (docs/aws.md). The handler never returns an error itself: a
// function error would make Lambda retry the whole batch, applied records
// included. Records are applied in the batch's order; a standard queue keeps no
// order, and the engine does not need one (decision 4 in docs/ARCHITECTURE.md).
func ProjectBatch(ctx context.Context, p *Platform, proj projections.Projection, pub Publisher, e events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range e.Records {
		if err := project(ctx, p, proj, pub, []byte(m.Body)); err != nil {
			p.Log.WarnContext(ctx, "projection failed; SQS will redeliver the message", "projection", proj.Name(), "message_id", m.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp
}

// project decodes, applies and (for the outbox) publishes one bus event. An
// error leaves the message on the queue to be received again: the engine skips
// what it already applied, so a retry after a failed publish only publishes
// again (receivers deduplicate by notification id; FIFO topics by the event id).
// A malformed body fails too rather than being dropped: it ends in the
// dead-letter queue, where an operator sees it.
func project(ctx context.Context, p *Platform, proj projections.Projection, pub Publisher, raw []byte) error {
	ev, err := eventbridge.Decode(raw)
	if errors.Is(err, eventbridge.ErrNotEvent) {
		p.Log.DebugContext(ctx, "skipping a record that is not a stored event", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("decode bus event: %w", err)
	}
	if !slices.Contains(proj.Handles(), ev.Type) {
		return nil // the rule should not have matched; nothing to do
	}
	if p.Sealed != nil {
		// The bus carries events as stored: sealed (decision 19).
		if ev, err = p.Sealed.Open(ctx, ev); err != nil {
			return fmt.Errorf("open bus event %s: %w", ev.ID, err)
		}
	}
	if err := p.Engine.Handle(ctx, []evs.Event{ev}); err != nil {
		return fmt.Errorf("project event %s into %s: %w", ev.ID, proj.Name(), err)
	}
	p.emit(emf.Line{Dimensions: map[string]string{"Projection": proj.Name()}, TenantID: string(ev.TenantID),
		Properties: map[string]any{"event_id": ev.ID, "event_type": ev.Type},
		Metrics:    []emf.Metric{{Name: "ProjectionLagSeconds", Unit: emf.Seconds, Value: p.Clock.Now().Sub(ev.RecordedAt).Seconds()}}})
	if pub == nil {
		return nil
	}
	return notify(ctx, p.Reader, pub, ev)
}

// notify publishes the outbox entry the engine wrote for ev.
func notify(ctx context.Context, r projections.Reader, pub Publisher, ev evs.Event) error {
	raw, err := r.Get(ctx, (projections.Outbox{}).Name(), projections.PlatformTenant, projections.OutboxCollection, projections.OutboxKey(ev))
	if errors.Is(err, projections.ErrNotFound) {
		return nil // parked or not a notifying event: nothing to send
	}
	if err != nil {
		return fmt.Errorf("read outbox entry %s: %w", ev.ID, err)
	}
	var n projections.Notification
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("decode outbox entry %s: %w", ev.ID, err)
	}
	if _, err := pub.Publish(ctx, n); err != nil && !errors.Is(err, sns.ErrNoTopic) {
		return fmt.Errorf("publish %s %s: %w", n.Type, n.ID, err)
	}
	return nil
}
