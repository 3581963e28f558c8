package awstest

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func pk(v string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"PK": s(v), "SK": &ddbtypes.AttributeValueMemberN{Value: "0"}}
}

func TestLeadingKeysPlaysTheTenantPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     any
		keys   []string
		denied string // substring of the reason; "" allowed
	}{
		{"get own item", &ddb.GetItemInput{TableName: aws.String("events"), Key: pk("T#t1#S#a")}, []string{"T#t1#S#a"}, ""},
		{"get another tenant's item", &ddb.GetItemInput{TableName: aws.String("events"), Key: pk("T#t2#S#a")}, []string{"T#t2#S#a"}, `"T#t2#S#a" does not start with "T#t1#"`},
		{"a tenant whose id extends ours", &ddb.GetItemInput{TableName: aws.String("events"), Key: pk("T#t10#S#a")}, nil, "does not start"},
		{"the key without the separator", &ddb.GetItemInput{TableName: aws.String("events"), Key: pk("T#t1")}, nil, "does not start"},
		{"platform metadata", &ddb.GetItemInput{TableName: aws.String("models"), Key: pk("P#items")}, nil, "does not start"},
		{"another table", &ddb.GetItemInput{TableName: aws.String("other"), Key: pk("T#t1#S#a")}, nil, "resource other"},
		{"put own item", &ddb.PutItemInput{TableName: aws.String("events"), Item: pk("T#t1#R")}, []string{"T#t1#R"}, ""},
		{"update", &ddb.UpdateItemInput{TableName: aws.String("models"), Key: pk("T#t2#x")}, nil, "does not start"},
		{"delete", &ddb.DeleteItemInput{TableName: aws.String("models"), Key: pk("T#t1#x")}, nil, ""},
		{"query the table", &ddb.QueryInput{TableName: aws.String("events"), KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s("T#t1#S#a"), ":from": s("1"), ":to": s("2")}}, []string{"T#t1#S#a"}, ""},
		{"query with attribute names", &ddb.QueryInput{TableName: aws.String("models"), KeyConditionExpression: aws.String("#sk > :after and #pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": "PK", "#sk": "SK"},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s("T#t2#P#x"), ":after": s("K#")}}, []string{"T#t2#P#x"}, "does not start"},
		{"query own history", &ddb.QueryInput{TableName: aws.String("events"), IndexName: aws.String("tenant-history"), KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK > :low"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s("T#t1#H"), ":low": s("0")}}, []string{"T#t1#H"}, ""},
		{"query the history key without the trailing separator", &ddb.QueryInput{TableName: aws.String("events"), IndexName: aws.String("tenant-history"),
			KeyConditionExpression: aws.String("GSI1PK = :pk"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s("T#t1")}}, nil, "does not start"},
		{"query the tenant registry", &ddb.QueryInput{TableName: aws.String("events"), IndexName: aws.String("tenant-history"),
			KeyConditionExpression: aws.String("GSI1PK = :pk"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s("TENANTS")}}, nil, "does not start"},
		{"query an index the role does not name", &ddb.QueryInput{TableName: aws.String("events"), IndexName: aws.String("other"),
			KeyConditionExpression: aws.String("GSI1PK = :pk"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s("T#t1#H")}}, nil, "resource events/index/other"},
		{"query on the sort key only", &ddb.QueryInput{TableName: aws.String("events"), KeyConditionExpression: aws.String("SK = :v"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": s("T#t1#x")}}, nil, "no equality on the partition key"},
		{"transaction, one foreign item", &ddb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{Put: &ddbtypes.Put{TableName: aws.String("events"), Item: pk("T#t1#S#a")}},
			{ConditionCheck: &ddbtypes.ConditionCheck{TableName: aws.String("models"), Key: pk("P#items")}},
		}}, []string{"T#t1#S#a", "P#items"}, `"P#items"`},
		{"transaction of own items", &ddb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{Put: &ddbtypes.Put{TableName: aws.String("events"), Item: pk("T#t1#S#a")}},
			{Delete: &ddbtypes.Delete{TableName: aws.String("events"), Key: pk("T#t1#I#k")}},
			{Update: &ddbtypes.Update{TableName: aws.String("events"), Key: pk("T#t1#E#e")}},
		}}, []string{"T#t1#S#a", "T#t1#I#k", "T#t1#E#e"}, ""},
		{"batch get", &ddb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{"events": {Keys: []map[string]ddbtypes.AttributeValue{pk("T#t1#a"), pk("T#t2#a")}}}}, nil, "T#t2#a"},
		{"batch write", &ddb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{"models": {
			{DeleteRequest: &ddbtypes.DeleteRequest{Key: pk("T#t1#a")}}, {PutRequest: &ddbtypes.PutRequest{Item: pk("T#t1#b")}}}}}, []string{"T#t1#a", "T#t1#b"}, ""},
		{"transact get", &ddb.TransactGetItemsInput{TransactItems: []ddbtypes.TransactGetItem{{Get: &ddbtypes.Get{TableName: aws.String("events"), Key: pk("T#t2#a")}}}}, nil, "does not start"},
		{"scan is not granted", &ddb.ScanInput{TableName: aws.String("events")}, nil, "grants no Scan"},
		{"describe table is not granted", &ddb.DescribeTableInput{TableName: aws.String("events")}, nil, "grants no DescribeTable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &LeadingKeys{Resources: map[string]string{"events": "PK", "models": "PK", "events/index/tenant-history": "GSI1PK"}}
			err := l.Authorize("t1", tt.in)
			calls := l.Calls()
			require.Len(t, calls, 1)
			assert.Equal(t, "t1", calls[0].Tenant)
			if tt.keys != nil {
				assert.Equal(t, tt.keys, calls[0].Keys)
			}
			if tt.denied == "" {
				require.NoError(t, err)
				assert.Empty(t, l.Denied())
				return
			}
			var api smithy.APIError
			require.True(t, errors.As(err, &api), "an API error: %v", err)
			assert.Equal(t, "AccessDeniedException", api.ErrorCode())
			assert.Contains(t, err.Error(), tt.denied)
			require.Len(t, l.Denied(), 1)
		})
	}
}

// Through the SDK: a client built with the middleware is refused before the call
// reaches moto, and an observed client is recorded but never refused.
func TestLeadingKeysMiddlewareOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg := Shared(t).Config()
	base := ddb.NewFromConfig(cfg)
	table := "leadingkeys-" + t.Name()
	_, err := base.CreateTable(ctx, &ddb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("PK"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: ddbtypes.KeyTypeHash}}})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = base.DeleteTable(context.WithoutCancel(ctx), &ddb.DeleteTableInput{TableName: aws.String(table)})
	})

	l := &LeadingKeys{Resources: map[string]string{table: "PK"}}
	tenantCfg := cfg.Copy()
	tenantCfg.APIOptions = append(tenantCfg.APIOptions, l.Middleware("t1"))
	tenant := ddb.NewFromConfig(tenantCfg)
	observedCfg := cfg.Copy()
	observedCfg.APIOptions = append(observedCfg.APIOptions, l.Observe())
	observed := ddb.NewFromConfig(observedCfg)

	item := func(k string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"PK": s(k)}
	}
	_, err = tenant.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(table), Item: item("T#t1#a")})
	require.NoError(t, err)
	_, err = tenant.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(table), Item: item("T#t2#a")})
	var api smithy.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, "AccessDeniedException", api.ErrorCode())
	_, err = observed.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(table), Item: item("P#x")})
	require.NoError(t, err, "the execution role is not restricted")

	got, err := base.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(table), Key: item("T#t2#a")})
	require.NoError(t, err)
	assert.Empty(t, got.Item, "the refused put never reached the table")
	calls := l.Calls()
	require.Len(t, calls, 3)
	assert.Equal(t, []string{"t1", "t1", ""}, []string{calls[0].Tenant, calls[1].Tenant, calls[2].Tenant})
	assert.Equal(t, "PutItem", calls[2].Operation)
	assert.Equal(t, []string{"P#x"}, calls[2].Keys)
	assert.Len(t, l.Denied(), 1)
}
