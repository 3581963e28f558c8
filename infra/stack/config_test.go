package stack_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/infra/stack"
)

func TestConfigFromContext(t *testing.T) {
	tests := []struct {
		name    string
		context map[string]any
		want    func(c *stack.Config)
		wantErr bool
	}{
		{name: "defaults", want: func(*stack.Config) {}},
		{name: "strings from a command line", context: map[string]any{
			"removalPolicy": "destroy", "deletionProtection": "false", "apiRateLimit": "10", "logRetentionDays": "7",
		}, want: func(c *stack.Config) {
			c.Retain, c.DeletionProtection, c.APIRateLimit, c.LogRetentionDays = false, false, 10, 7
		}},
		{name: "JSON values from cdk.json", context: map[string]any{"deletionProtection": false, "projectionLagAlarmSeconds": 60},
			want: func(c *stack.Config) { c.DeletionProtection, c.ProjectionLagAlarmSeconds = false, 60 }},
		{name: "bad removal policy", context: map[string]any{"removalPolicy": "snapshot-maybe"}, wantErr: true},
		{name: "bad boolean", context: map[string]any{"deletionProtection": "perhaps"}, wantErr: true},
		{name: "negative limit", context: map[string]any{"apiBurstLimit": "-1"}, wantErr: true},
		{name: "bad prefix", context: map[string]any{"prefix": "a b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.context
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
			got, err := stack.ConfigFromContext(app.Node())
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			want := stack.DefaultConfig()
			tt.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestMissingZipsFailWithAHint(t *testing.T) {
	ctx := map[string]any{"lambdaDist": t.TempDir()}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	cfg, err := stack.ConfigFromContext(app.Node())
	require.NoError(t, err)
	_, err = stack.New(app, "NoCode", stack.Props{Config: cfg})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "make lambda")
}
