package stack_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFunctions(t *testing.T) {
	fns := shared.ofType("AWS::Lambda::Function")
	require.Len(t, fns, 4+len(registered), "api, billing-close, worker, pre-token and a projector per projection")
	for id, fn := range fns {
		t.Run(id, func(t *testing.T) {
			p := fn.Properties
			assert.Equal(t, "provided.al2023", p["Runtime"])
			assert.Equal(t, []any{"arm64"}, p["Architectures"])
			assert.Equal(t, "bootstrap", p["Handler"])
			logs := refID(p["LoggingConfig"].(map[string]any)["LogGroup"])
			require.Equal(t, "AWS::Logs::LogGroup", shared.resources[logs].Type, "its own log group")
			assert.Equal(t, float64(30), shared.resources[logs].Properties["RetentionInDays"])
			role := shared.resources[refID(p["Role"])]
			assert.Nil(t, role.Properties["ManagedPolicyArns"], "no AWS-managed policies")
			env := envVars(fn)
			if strings.HasPrefix(id, "PreToken") {
				assert.Empty(t, env, "the user pool's trigger reads no table (TestPreTokenTrigger)")
				return
			}
			assert.Equal(t, "dynamodb", env["TENANTSTREAM_STORE"])
			assert.NotNil(t, env["TENANTSTREAM_EVENTS_TABLE"])
			assert.NotNil(t, env["TENANTSTREAM_READMODELS_TABLE"])
		})
	}
}

// TestLeastPrivilege: no policy in the stack grants "*" or "service:*" actions,
// and data actions always name their resources.
func TestLeastPrivilege(t *testing.T) {
	policies := shared.ofType("AWS::IAM::Policy")
	for id, p := range kinesisVariant(t).ofType("AWS::IAM::Policy") {
		policies["kinesis feed: "+id] = p
	}
	for id, p := range policies {
		for _, st := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			for _, a := range asList(s["Action"]) {
				action := a.(string)
				assert.NotEqual(t, "*", action, id)
				assert.False(t, strings.HasSuffix(action, ":*"), "%s grants %s", id, action)
				if strings.HasPrefix(action, "dynamodb:") && action != "dynamodb:ListStreams" {
					for _, r := range asList(s["Resource"]) {
						assert.NotEqual(t, "*", r, "%s: %s on every table", id, action)
					}
				}
			}
		}
	}
}

// TestProjectorPermissions: projectors write read models only, never the store.
func TestProjectorPermissions(t *testing.T) {
	events := shared.logicalID(t, "AWS::DynamoDB::Table", "EventsTable")
	for _, p := range registered {
		role := shared.logicalID(t, "AWS::IAM::Role", "Projector"+idPart(p.Name())+"Role")
		for _, s := range policyStatements(shared, role) {
			if refID(s["Resource"]) == events {
				assert.NotContains(t, asList(s["Action"]), "dynamodb:PutItem", p.Name())
			}
		}
	}
}

// With catalogFile, the functions that price (api, billing-close-worker) load
// catalog.<ext> from their zip; billing-close and the projectors never price,
// so a catalogue cannot fail their cold start. Without it, no function gets the
// variable and all keep the embedded catalogue.
func TestCatalogFileEnvironment(t *testing.T) {
	tests := []struct {
		name string
		s    *synthesized
		want map[string]any // by function: the variable's value, nil for none
	}{
		{"no catalogFile", shared, map[string]any{"Api": nil, "BillingClose": nil, "BillingCloseWorker": nil, "Projector": nil, "PreToken": nil}},
		{"catalogFile plans/ours.yml", variant(t), map[string]any{"Api": "catalog.yml", "BillingClose": nil, "BillingCloseWorker": "catalog.yml", "Projector": nil, "PreToken": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]int{}
			for id, fn := range tt.s.ofType("AWS::Lambda::Function") {
				name := id[:len(id)-8] // the logical id is the construct id and an 8-digit hash
				if strings.HasPrefix(name, "Projector") {
					name = "Projector"
				}
				want, ok := tt.want[name]
				require.True(t, ok, "unexpected function %s", id)
				seen[name]++
				assert.Equal(t, want, envVars(fn)["TENANTSTREAM_CATALOG_FILE"], id)
			}
			for name := range tt.want {
				assert.NotZero(t, seen[name], "no %s function", name)
			}
		})
	}
}
