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
	"github.com/tenantstream/tenantstream/events/kinesis"
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
	h, err := projectorParts(ctx, env)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return ProjectBatch(ctx, h.p, h.proj, h.pub, e), nil
	}, nil
}

// projector is what either feed's handler needs: the platform running one
// projection and, for the outbox, the publisher.
type projector struct {
	p    *Platform
	proj projections.Projection
	pub  Publisher
}

func projectorParts(ctx context.Context, env Env) (projector, error) {
	if env.Projection == "" {
		return projector{}, errors.New("TENANTSTREAM_PROJECTION is required")
	}
	proj, ok := projections.Lookup(env.Projection)
	if !ok {
		return projector{}, fmt.Errorf("TENANTSTREAM_PROJECTION=%q: %w", env.Projection, projections.ErrUnknownProjection)
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
		return projector{}, err
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
	return projector{p: p, proj: proj, pub: pub}, nil
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

// project is projectEvent for one bus event, the SQS feed's message body.
func project(ctx context.Context, p *Platform, proj projections.Projection, pub Publisher, raw []byte) error {
	return projectEvent(ctx, p, proj, pub, func() (evs.Event, error) { return eventbridge.Decode(raw) })
}

// projectEvent decodes, applies and (for the outbox) publishes one record of
// either feed. An error leaves the record to be delivered again: the engine skips
// what it already applied, so a retry after a failed publish only publishes
// again (receivers deduplicate by notification id; FIFO topics by the event id).
// A malformed record fails too rather than being dropped: it ends in the
// dead-letter queue, where an operator sees it.
func projectEvent(ctx context.Context, p *Platform, proj projections.Projection, pub Publisher, decode func() (evs.Event, error)) error {
	ev, err := decode()
	if errors.Is(err, eventbridge.ErrNotEvent) {
		p.Log.DebugContext(ctx, "skipping a record that is not a stored event", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("decode record: %w", err)
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

// KinesisProjector returns the projector function's handler for the Kinesis
// feed (docs/aws.md, "The Kinesis feed"): the function reads the events
// table's Kinesis data stream through an event source mapping with
// ReportBatchItemFailures, BisectBatchOnFunctionError and an SQS on-failure
// destination. The platform is built as Projector builds it.
func KinesisProjector(ctx context.Context, env Env) (func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error), error) {
	h, err := projectorParts(ctx, env)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, e events.KinesisEvent) (events.KinesisEventResponse, error) {
		return ProjectKinesisBatch(ctx, h.p, h.proj, h.pub, e)
	}, nil
}

// ErrFirstRecordFailed is ProjectKinesisBatch's error when the batch's first
// record failed, so nothing of the batch was applied.
var ErrFirstRecordFailed = errors.New("the first record of the batch failed")

// ProjectKinesisBatch projects a Kinesis batch (one shard's records, in shard
// order) record by record and stops at the first that fails. The event source
// mapping retries from the lowest sequence number reported, so records after
// a failure are retried whether or not they were tried here; trying them
// would only repeat work.
//
// A failure after at least one applied record is a partial batch response
// naming it: the mapping checkpoints the applied records and starts the next
// batch at the failed one. A failure of the first record is a function error
// (ErrFirstRecordFailed, wrapping the cause) instead, which retries no applied
// record, because none was: it is what makes BisectBatchOnFunctionError split
// the batch until the failing record is alone, so when the retries run out the
// on-failure destination names that one record, not a batch of other streams'
// events behind it. A record that is not a stored event of the projection's
// types (the mapping's filter should have dropped it; a redrive re-reads whole
// shard ranges) counts as applied.
func ProjectKinesisBatch(ctx context.Context, p *Platform, proj projections.Projection, pub Publisher, e events.KinesisEvent) (events.KinesisEventResponse, error) {
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for i, r := range e.Records {
		err := projectEvent(ctx, p, proj, pub, func() (evs.Event, error) { return kinesis.DecodeEventRecord(r) })
		if err == nil {
			continue
		}
		p.Log.WarnContext(ctx, "projection failed; the event source mapping retries from this record", "projection", proj.Name(),
			"sequence_number", r.Kinesis.SequenceNumber, "event_id", r.EventID, "position", i, "err", err)
		if i == 0 {
			return events.KinesisEventResponse{}, fmt.Errorf("%w (sequence number %s): %w", ErrFirstRecordFailed, r.Kinesis.SequenceNumber, err)
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
		return resp, nil
	}
	return resp, nil
}
