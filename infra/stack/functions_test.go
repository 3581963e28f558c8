package stack_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFunctions(t *testing.T) {
	fns := shared.ofType("AWS::Lambda::Function")
	require.Len(t, fns, 3+len(registered), "api, billing-close, worker and a projector per projection")
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
			env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			assert.Equal(t, "dynamodb", env["TENANTSTREAM_STORE"])
			assert.NotNil(t, env["TENANTSTREAM_EVENTS_TABLE"])
			assert.NotNil(t, env["TENANTSTREAM_READMODELS_TABLE"])
		})
	}
}

// TestLeastPrivilege: no policy in the stack grants "*" or "service:*" actions,
// and data actions always name their resources.
func TestLeastPrivilege(t *testing.T) {
	for id, p := range shared.ofType("AWS::IAM::Policy") {
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
		role := shared.logicalID(t, "AWS::IAM::Role", "Projector"+p.Name()+"Role")
		for _, s := range policyStatements(shared, role) {
			if refID(s["Resource"]) == events {
				assert.NotContains(t, asList(s["Action"]), "dynamodb:PutItem", p.Name())
			}
		}
	}
}
