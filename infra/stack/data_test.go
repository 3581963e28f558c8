package stack_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTables(t *testing.T) {
	events := shared.logicalID(t, "AWS::DynamoDB::Table", "EventsTable")
	readModels := shared.logicalID(t, "AWS::DynamoDB::Table", "ReadModelsTable")
	assertCDK(t, "table count", func() { shared.template.ResourceCountIs(strp("AWS::DynamoDB::Table"), num(2)) })

	tests := []struct {
		name, id string
		props    map[string]any
	}{
		{"events: keys, on-demand, NEW_IMAGE stream, PITR, deletion protection, tenant-history index", events, map[string]any{
			"KeySchema": []any{
				map[string]any{"AttributeName": "PK", "KeyType": "HASH"},
				map[string]any{"AttributeName": "SK", "KeyType": "RANGE"},
			},
			"AttributeDefinitions": assertions.Match_ArrayWith(&[]any{
				map[string]any{"AttributeName": "PK", "AttributeType": "S"},
				map[string]any{"AttributeName": "SK", "AttributeType": "N"},
			}),
			"BillingMode":                      "PAY_PER_REQUEST",
			"StreamSpecification":              map[string]any{"StreamViewType": "NEW_IMAGE"},
			"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires_at", "Enabled": true},
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"DeletionProtectionEnabled":        true,
			"GlobalSecondaryIndexes": []any{map[string]any{
				"IndexName": "tenant-history",
				"KeySchema": []any{
					map[string]any{"AttributeName": "GSI1PK", "KeyType": "HASH"},
					map[string]any{"AttributeName": "GSI1SK", "KeyType": "RANGE"},
				},
				"Projection": map[string]any{"ProjectionType": "ALL"},
			}},
		}},
		{"read models: string keys, on-demand, PITR, deletion protection", readModels, map[string]any{
			"KeySchema": []any{
				map[string]any{"AttributeName": "PK", "KeyType": "HASH"},
				map[string]any{"AttributeName": "SK", "KeyType": "RANGE"},
			},
			"AttributeDefinitions": []any{
				map[string]any{"AttributeName": "PK", "AttributeType": "S"},
				map[string]any{"AttributeName": "SK", "AttributeType": "S"},
			},
			"BillingMode":                      "PAY_PER_REQUEST",
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"DeletionProtectionEnabled":        true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCDK(t, tt.name, func() {
				shared.template.HasResource(strp("AWS::DynamoDB::Table"), map[string]any{
					"Properties":     assertions.Match_ObjectLike(&tt.props),
					"DeletionPolicy": "Retain",
				})
			})
			assert.Equal(t, "Retain", shared.resources[tt.id].DeletionPolicy)
		})
	}
	_, hasStream := shared.resources[readModels].Properties["StreamSpecification"]
	assert.False(t, hasStream, "the read-model table needs no stream")
}

// TestRemovalPolicyFromContext: a development stack set to destroy has neither
// deletion protection nor retained tables, user pool or logs.
func TestRemovalPolicyFromContext(t *testing.T) {
	v := variant(t)
	for id, r := range v.resources {
		switch r.Type {
		case "AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::Logs::LogGroup", "AWS::KMS::Key":
			assert.Equal(t, "Delete", r.DeletionPolicy, id)
		}
		switch r.Type {
		case "AWS::DynamoDB::Table":
			assert.Equal(t, false, r.Properties["DeletionProtectionEnabled"], id)
		case "AWS::Cognito::UserPool":
			assert.NotEqual(t, "ACTIVE", r.Properties["DeletionProtection"], id)
		}
	}
	for id, r := range shared.resources {
		switch r.Type {
		case "AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::Logs::LogGroup", "AWS::KMS::Key":
			assert.Equal(t, "Retain", r.DeletionPolicy, id)
		}
		if r.Type == "AWS::Cognito::UserPool" {
			require.Equal(t, "ACTIVE", r.Properties["DeletionProtection"], id)
		}
	}
}

// TestTTLOnExpiringItems: every table holding items that expire deletes them by
// TTL on expires_at, the attribute events/dynamodb writes (docs/aws.md). The events
// table holds idempotency records (expire a day after the append) and usage-id
// claims (expire when a usage record can no longer be dated back); the read-model
// table holds nothing that expires, and any TTL a table has is on expires_at.
func TestTTLOnExpiringItems(t *testing.T) {
	expiring := map[string]string{
		shared.logicalID(t, "AWS::DynamoDB::Table", "EventsTable"): "idempotency records and usage-id claims",
	}
	for _, s := range []*synthesized{shared, variant(t)} {
		for id, table := range s.ofType("AWS::DynamoDB::Table") {
			ttl, has := table.Properties["TimeToLiveSpecification"]
			if what, ok := expiring[id]; ok {
				assert.Equal(t, map[string]any{"AttributeName": "expires_at", "Enabled": true}, ttl, "%s holds %s", id, what)
				continue
			}
			if has {
				assert.Equal(t, "expires_at", ttl.(map[string]any)["AttributeName"], "%s: TTL is on expires_at", id)
			}
		}
	}
	for id := range expiring {
		_, ok := shared.resources[id]
		require.True(t, ok, id)
	}
}
