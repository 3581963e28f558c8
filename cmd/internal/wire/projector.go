package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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

// Projector returns the projector function's handler. Each invocation carries
// one event the Pipe put on the bus (the stream record in detail); only the
// projection named by TENANTSTREAM_PROJECTION runs, as each projection has its
// own rule and function. The outbox projection's function also publishes the
// notifications to SNS.
func Projector(ctx context.Context, env Env) (func(context.Context, json.RawMessage) error, error) {
	if env.Projection == "" {
		return nil, errors.New("TENANTSTREAM_PROJECTION is required")
	}
	proj, ok := projections.Lookup(env.Projection)
	if !ok {
		return nil, fmt.Errorf("TENANTSTREAM_PROJECTION=%q: %w", env.Projection, projections.ErrUnknownProjection)
	}
	p, err := openFunction(ctx, env, func(o *Options) error { o.Projections = []projections.Projection{proj}; return nil })
	if err != nil {
		return nil, err
	}
	var pub Publisher
	if proj.Name() == (projections.Outbox{}).Name() && (env.InvoicesTopicARN != "" || env.OnboardingTopicARN != "") {
		pub = &sns.Publisher{Client: snsapi.NewFromConfig(p.AWS), Topics: sns.Topics{Invoices: env.InvoicesTopicARN, Onboarding: env.OnboardingTopicARN}}
	}
	return func(ctx context.Context, raw json.RawMessage) error {
		return project(ctx, p, proj, pub, raw)
	}, nil
}

// project decodes, applies and (for the outbox) publishes one bus event. An
// error makes EventBridge retry the invocation: the engine skips what it already
// applied, so a retry after a failed publish only publishes again (receivers
// deduplicate by notification id; FIFO topics by the event id).
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
