package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// Ops is the platform as an operator command sees it (the CLI's --backend
// dynamodb): the store, the projection engine over the read models and the
// commands, built exactly as the functions build them. Nothing feeds the
// projections here: on AWS the pipe and the projector functions do.
type Ops struct {
	Store   evs.Store
	Engine  *projections.Engine
	Service *commands.Service
	Billing *commands.Billing
}

// OpsOptions adjust what OpenOps builds.
type OpsOptions struct {
	// Catalog replaces the embedded plan catalogue (the CLI's --catalog).
	Catalog *billing.Catalog
	// Log receives the commands' logs; nil discards them, as the local tools do.
	Log *slog.Logger
}

// OpenOps builds the platform from env: Store "" means dynamodb, Region and
// EndpointURL override the SDK's own configuration when set. On DynamoDB it
// checks that both tables exist, so a wrong name or region fails at once with
// the table's name rather than on the first read.
func OpenOps(ctx context.Context, env Env, opts OpsOptions) (*Ops, error) {
	if env.Store == "" {
		env.Store = StoreDynamoDB
	}
	p, err := open(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	if env.Store == StoreDynamoDB {
		if p.aws.Region == "" {
			return nil, errors.New("no AWS region: pass --region or set AWS_REGION (or a region in the AWS profile)")
		}
		client := ddb.NewFromConfig(p.aws)
		for _, t := range []struct{ what, name string }{{"events", env.EventsTable}, {"read-model", env.ReadModelsTable}} {
			if err := tableExists(ctx, client, t.name); err != nil {
				return nil, fmt.Errorf("%s table %q in %s: %w", t.what, t.name, p.aws.Region, err)
			}
		}
	}
	if opts.Catalog != nil {
		p.service.Plans = commands.Catalog{Catalog: opts.Catalog}
		p.billing.Catalog = opts.Catalog
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	p.service.Log, p.billing.Log = log, log
	return &Ops{Store: p.store, Engine: p.engine, Service: p.service, Billing: p.billing}, nil
}

// tableExists describes the table; a missing table is a plain "not found".
func tableExists(ctx context.Context, client *ddb.Client, name string) error {
	_, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(name)})
	var nf *ddbtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return errors.New("not found")
	}
	if err != nil {
		return fmt.Errorf("describe table: %w", err)
	}
	return nil
}
