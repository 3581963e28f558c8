package wire

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/domain/billing"
)

// noAWSProfile keeps the machine's AWS configuration out of the test: no
// region from the environment or a profile, static credentials.
func noAWSProfile(t *testing.T) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "aws-config")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for k, v := range map[string]string{"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"} {
		t.Setenv(k, v)
	}
}

// OpenOps refuses an incomplete DynamoDB configuration before any call, naming
// what is missing.
func TestOpenOpsRefusesIncompleteConfiguration(t *testing.T) {
	noAWSProfile(t)
	tests := []struct {
		name    string
		env     Env
		errText string
	}{
		{"no events table", Env{ReadModelsTable: "rm", Region: "eu-west-1"}, "TENANTSTREAM_EVENTS_TABLE"},
		{"no read-model table", Env{Store: StoreDynamoDB, EventsTable: "ev", Region: "eu-west-1"}, "TENANTSTREAM_READMODELS_TABLE"},
		{"no region anywhere", Env{EventsTable: "ev", ReadModelsTable: "rm"}, "no AWS region: pass --region or set AWS_REGION"},
		{"unknown store", Env{Store: "postgres", EventsTable: "ev", ReadModelsTable: "rm", Region: "eu-west-1"}, `"postgres"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenOps(context.Background(), Options{Store: tt.env.Store, Env: tt.env})
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.errText)
		})
	}
}

// The catalogue the operator passes prices both the close and the audit.
func TestOpenOpsCatalogOverride(t *testing.T) {
	noAWSProfile(t)
	custom := &billing.Catalog{Currency: "EUR"}
	tests := []struct {
		name string
		cat  *billing.Catalog
		want *billing.Catalog
	}{
		{"embedded by default", nil, catalog.Default()},
		{"--catalog", custom, custom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := OpenOps(context.Background(), Options{Store: StoreMemory, Env: Env{Region: "eu-west-1"}, Catalog: tt.cat})
			require.NoError(t, err)
			assert.Equal(t, tt.want, ops.Billing.Catalog)
			assert.Equal(t, commands.Catalog{Catalog: tt.want}, ops.Service.Plans)
			assert.Same(t, ops.Service, ops.Billing.Service)
			assert.NotNil(t, ops.Engine)
			assert.NotNil(t, ops.Store)
		})
	}
}
