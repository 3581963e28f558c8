package wire

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/commands"
)

// maxPendingMeters bounds the invocations' counts an instance keeps while the
// store refuses them; beyond it the oldest are dropped (and logged).
const maxPendingMeters = 1000

// invocationMeters records the built-in meters on AWS (docs/aws.md, "Built-in
// meters"): each invocation counts on a commands.Meter of its own, named by
// the invocation, and flushes it before it answers. The ids of its usage
// records derive from that name, so a replayed invocation writes nothing
// twice. A flush that fails is kept and retried, with the same ids, after the
// instance's next invocations.
type invocationMeters struct {
	service *commands.Service
	log     *slog.Logger
	next    APIHandler

	mu      sync.Mutex
	pending []*commands.Meter
}

// Handle is the api function's handler with metering around next.
func (im *invocationMeters) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	m := &commands.Meter{Service: im.service, Invocation: invocationID(ctx, ev)}
	out, err := im.next(commands.WithMeter(ctx, m), ev)
	im.flush(context.WithoutCancel(ctx), m)
	return out, err
}

// flush writes m's counts and those kept from earlier invocations; what fails
// is kept for the next call. A failure never fails the request: its work is done.
func (im *invocationMeters) flush(ctx context.Context, m *commands.Meter) {
	im.mu.Lock()
	todo := append(im.pending, m)
	im.pending = nil
	im.mu.Unlock()
	var failed []*commands.Meter
	for _, pm := range todo {
		if err := pm.Flush(ctx); err != nil {
			im.log.Warn("metering flush failed; kept for the next invocation", "invocation", pm.Invocation, "err", err)
			failed = append(failed, pm) // Flush kept the counts it could not write
		}
	}
	if len(failed) == 0 {
		return
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	im.pending = append(im.pending, failed...)
	if over := len(im.pending) - maxPendingMeters; over > 0 {
		for _, pm := range im.pending[:over] {
			im.log.Error("metering counts dropped: the store refused them too long", "invocation", pm.Invocation)
		}
		im.pending = append([]*commands.Meter(nil), im.pending[over:]...)
	}
}

// invocationID names an invocation for its usage ids: API Gateway's request
// id (the same for every delivery of one HTTP request), else Lambda's request
// id (a direct invoke), else a random id (nothing to deduplicate by).
func invocationID(ctx context.Context, ev events.APIGatewayV2HTTPRequest) string {
	if id := ev.RequestContext.RequestID; id != "" {
		return "apigw-" + id
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return "lambda-" + lc.AwsRequestID
	}
	return "random-" + uuid.Must(uuid.NewV7()).String()
}
