package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// OpenOps opens the platform for an operator command (the CLI's --backend
// dynamodb): Open, then on DynamoDB a check that both tables exist, so a wrong
// name or region fails at once with the table's name rather than on the first
// read. An empty o.Store means dynamodb. Nothing feeds the projections here: on
// AWS the pipe and the projector functions do.
func OpenOps(ctx context.Context, o Options) (*Platform, error) {
	if o.Store == "" {
		o.Store = StoreDynamoDB
	}
	p, err := Open(ctx, o)
	if err != nil {
		return nil, err
	}
	if o.Store == StoreDynamoDB {
		if p.AWS.Region == "" {
			return nil, errors.New("no AWS region: pass --region or set AWS_REGION (or a region in the AWS profile)")
		}
		client := ddb.NewFromConfig(p.AWS)
		for _, t := range []struct{ what, name string }{{"events", o.Env.EventsTable}, {"read-model", o.Env.ReadModelsTable}} {
			if err := tableExists(ctx, client, t.name); err != nil {
				return nil, fmt.Errorf("%s table %q in %s: %w", t.what, t.name, p.AWS.Region, err)
			}
		}
	}
	return p, nil
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
