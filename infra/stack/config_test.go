package stack_test

import (
	"path/filepath"
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
		{name: "projector concurrency", context: map[string]any{"projectorConcurrency": 20},
			want: func(c *stack.Config) { c.ProjectorConcurrency = 20 }},
		{name: "projector concurrency below the mapping's minimum", context: map[string]any{"projectorConcurrency": "1"}, wantErr: true},
		{name: "projector concurrency not whole", context: map[string]any{"projectorConcurrency": "2.5"}, wantErr: true},
		{name: "restored events stream", context: map[string]any{"eventsStreamArn": "arn:aws:dynamodb:eu-west-1:111122223333:table/t/stream/2026-12-03T10:00:00.000"},
			want: func(c *stack.Config) {
				c.EventsStreamARN = "arn:aws:dynamodb:eu-west-1:111122223333:table/t/stream/2026-12-03T10:00:00.000"
			}},
		{name: "restored events table", context: map[string]any{"eventsTableName": "t2", "eventsStreamArn": "arn:aws:dynamodb:eu-west-1:111122223333:table/t2/stream/x"},
			want: func(c *stack.Config) {
				c.EventsTableName, c.EventsStreamARN = "t2", "arn:aws:dynamodb:eu-west-1:111122223333:table/t2/stream/x"
			}},
		{name: "restored events table without its stream", context: map[string]any{"eventsTableName": "t2"}, wantErr: true},
		{name: "events stream that is no stream", context: map[string]any{"eventsStreamArn": "arn:aws:dynamodb:eu-west-1:111122223333:table/t"}, wantErr: true},
		{name: "Kinesis feed", context: map[string]any{"feed": "kinesis", "kinesisShards": "4"},
			want: func(c *stack.Config) { c.Feed, c.KinesisShards = stack.FeedKinesis, 4 }},
		{name: "unknown feed", context: map[string]any{"feed": "pipes"}, wantErr: true},
		{name: "no shards", context: map[string]any{"feed": "kinesis", "kinesisShards": "0"}, wantErr: true},
		{name: "Kinesis feed on a restored table", context: map[string]any{"feed": "kinesis", "eventsTableName": "t2", "eventsStreamArn": "arn:aws:dynamodb:eu-west-1:111122223333:table/t2/stream/x"}, wantErr: true},
		{name: "catalogue file", context: map[string]any{"catalogFile": "plans/ours.JSON"},
			want: func(c *stack.Config) { c.CatalogFile = "plans/ours.JSON" }},
		{name: "catalogue neither yaml nor json", context: map[string]any{"catalogFile": "plans.toml"}, wantErr: true},
		{name: "catalogue without an extension", context: map[string]any{"catalogFile": "plans"}, wantErr: true},
		{name: "CORS origins, comma-separated as on a command line", context: map[string]any{"corsOrigins": "https://app.example.com, HTTP://localhost:5173,https://app.example.com:443"},
			want: func(c *stack.Config) { c.CORSOrigins = []string{"https://app.example.com", "http://localhost:5173"} }},
		{name: "no CORS origins", context: map[string]any{"corsOrigins": ""}, want: func(*stack.Config) {}},
		{name: "CORS wildcard", context: map[string]any{"corsOrigins": "*"}, wantErr: true},
		{name: "CORS origin with a path", context: map[string]any{"corsOrigins": "https://app.example.com/"}, wantErr: true},
		{name: "CORS origin without a scheme", context: map[string]any{"corsOrigins": "app.example.com"}, wantErr: true},
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

// The zips make lambda built must agree with catalogFile, or the synth fails
// before anything is deployed: a pricing function without its catalogue would
// fail every cold start, and a catalogue without the context would be ignored.
func TestCatalogZipsMustMatchTheContext(t *testing.T) {
	tests := []struct {
		name    string
		file    string   // context catalogFile; "" leaves it unset
		inZips  []string // besides bootstrap, in every zip
		errText []string
	}{
		{"context, zips without a catalogue", "plans.yaml", nil, []string{"api.zip does not hold catalog.yaml", `catalogFile "plans.yaml"`, "make lambda CATALOG="}},
		{"context, zips with another extension", "plans.json", []string{"catalog.yaml"}, []string{"api.zip does not hold catalog.json"}},
		{"zips with a catalogue, no context", "", []string{"catalog.yml"}, []string{"api.zip holds catalog.yml", "catalogFile is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist := t.TempDir()
			for _, fn := range stack.Functions {
				require.NoError(t, writeZip(filepath.Join(dist, fn+".zip"), append([]string{"bootstrap"}, tt.inZips...)...))
			}
			ctx := map[string]any{"lambdaDist": dist}
			if tt.file != "" {
				ctx["catalogFile"] = tt.file
			}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
			cfg, err := stack.ConfigFromContext(app.Node())
			require.NoError(t, err)
			_, err = stack.New(app, "CatalogZips", stack.Props{Config: cfg})
			require.Error(t, err)
			for _, s := range tt.errText {
				assert.ErrorContains(t, err, s)
			}
		})
	}
}
