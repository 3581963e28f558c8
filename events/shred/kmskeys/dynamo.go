package kmskeys

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/shred"
)

// DynamoDB is the part of the DynamoDB client DynamoKeys uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
}

// DynamoKeys keeps the wrapped data keys in the events table, one item per
// tenant under T#<tenant>#DK (inside the tenant role's dynamodb:LeadingKeys,
// and with no kind attribute, so the change feed ignores it). Backups of the
// table keep the wrapped key, which is harmless: it opens only with the
// tenant's KMS key, which erasure disables.
type DynamoKeys struct {
	Client DynamoDB
	Table  string
}

var _ WrappedKeys = DynamoKeys{}

func dkKey(tenant events.TenantID) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: "T#" + string(tenant) + "#DK"},
		"SK": &ddbtypes.AttributeValueMemberN{Value: "0"},
	}
}

// Get implements WrappedKeys.
func (d DynamoKeys) Get(ctx context.Context, tenant events.TenantID) (Wrapped, error) {
	out, err := d.Client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(d.Table), Key: dkKey(tenant), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Wrapped{}, fmt.Errorf("read the data key of %s: %w", tenant, err)
	}
	if out.Item == nil {
		return Wrapped{}, ErrNoKey
	}
	if e, ok := out.Item["erased"].(*ddbtypes.AttributeValueMemberBOOL); ok && e.Value {
		return Wrapped{}, shred.ErrErased
	}
	var w Wrapped
	if v, ok := out.Item["key_id"].(*ddbtypes.AttributeValueMemberS); ok {
		w.ID = v.Value
	}
	if v, ok := out.Item["kms_key"].(*ddbtypes.AttributeValueMemberS); ok {
		w.KeyID = v.Value
	}
	if v, ok := out.Item["wrapped_key"].(*ddbtypes.AttributeValueMemberB); ok {
		w.Blob = v.Value
	}
	if w.ID == "" || len(w.Blob) == 0 {
		return Wrapped{}, ErrNoKey
	}
	return w, nil
}

// PutIfAbsent implements WrappedKeys.
func (d DynamoKeys) PutIfAbsent(ctx context.Context, tenant events.TenantID, w Wrapped) error {
	item := dkKey(tenant)
	item["key_id"] = &ddbtypes.AttributeValueMemberS{Value: w.ID}
	item["kms_key"] = &ddbtypes.AttributeValueMemberS{Value: w.KeyID}
	item["wrapped_key"] = &ddbtypes.AttributeValueMemberB{Value: w.Blob}
	_, err := d.Client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(d.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var cond *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("store the data key of %s: %w", tenant, err)
	}
	return nil
}

// MarkErased implements WrappedKeys: the wrapped key is removed with it.
func (d DynamoKeys) MarkErased(ctx context.Context, tenant events.TenantID) error {
	_, err := d.Client.UpdateItem(ctx, &ddb.UpdateItemInput{TableName: aws.String(d.Table), Key: dkKey(tenant),
		UpdateExpression:          aws.String("SET #e = :t REMOVE #w"),
		ExpressionAttributeNames:  map[string]string{"#e": "erased", "#w": "wrapped_key"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberBOOL{Value: true}}})
	if err != nil {
		return fmt.Errorf("mark %s erased: %w", tenant, err)
	}
	return nil
}
