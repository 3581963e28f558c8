package dynamodb

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableClient is the part of the DynamoDB API CreateTable uses.
type TableClient interface {
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, opts ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, opts ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
}

// CreateTable creates the event table for tests and development, and waits until it
// is active: on-demand billing, a stream of new images (the change feed's source) and
// the tenant-history index. Production tables come from infra/ with the same shape.
func CreateTable(ctx context.Context, client TableClient, table string) error {
	out, err := client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: ddbtypes.ScalarAttributeTypeN},
			{AttributeName: aws.String(attrGSI1PK), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrGSI1SK), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: ddbtypes.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName: aws.String(TenantIndex),
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String(attrGSI1PK), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: aws.String(attrGSI1SK), KeyType: ddbtypes.KeyTypeRange},
			},
			// ALL: a history read needs whole events; KEYS_ONLY would cost a
			// BatchGetItem per page.
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}},
		StreamSpecification: &ddbtypes.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: ddbtypes.StreamViewTypeNewImage,
		},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	if out.TableDescription == nil || out.TableDescription.TableStatus != ddbtypes.TableStatusCreating {
		return nil // moto and in-process fakes create tables active
	}
	w := ddb.NewTableExistsWaiter(client, func(o *ddb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond; o.MaxDelay = time.Second })
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("create table %s: wait until active: %w", table, err)
	}
	return nil
}
