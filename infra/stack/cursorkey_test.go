package stack_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The api function seals event-log cursors with one key across all
// its instances: a generated secret, retained like the data, whose ARN is in
// the environment of the api and of the outbox projector (which derives the
// invitation and reset tokens it publishes from it), and which only their
// roles may read.
func TestCursorKeySecret(t *testing.T) {
	secret := shared.logicalID(t, "AWS::SecretsManager::Secret", "CursorKey")
	r := shared.resources[secret]
	assert.Equal(t, map[string]any{"PasswordLength": float64(64), "ExcludePunctuation": true, "IncludeSpace": false},
		r.Properties["GenerateSecretString"], "a generated value of about 380 bits, never a value in the template")
	assert.NotContains(t, r.Properties, "SecretString")
	assert.Equal(t, "Retain", r.DeletionPolicy, "losing the key invalidates every cursor")
	assert.Equal(t, "Delete", variant(t).resources[variant(t).logicalID(t, "AWS::SecretsManager::Secret", "CursorKey")].DeletionPolicy)

	for id, fn := range shared.ofType("AWS::Lambda::Function") {
		env := envVars(fn)
		if strings.HasPrefix(id, "Api") || strings.HasPrefix(id, "Projectoroutbox") {
			assert.Equal(t, map[string]any{"Ref": secret}, env["TENANTSTREAM_CURSOR_KEY_SECRET_ARN"])
		} else {
			assert.NotContains(t, env, "TENANTSTREAM_CURSOR_KEY_SECRET_ARN", id)
		}
	}
	readers := map[string]bool{}
	for _, p := range shared.ofType("AWS::IAM::Policy") {
		for _, st := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			if !slices.Contains(asList(s["Action"]), any("secretsmanager:GetSecretValue")) {
				continue
			}
			assert.Equal(t, map[string]any{"Ref": secret}, s["Resource"], "the cursor key only")
			for _, role := range p.Properties["Roles"].([]any) {
				readers[refID(role)] = true
			}
		}
	}
	require.Len(t, readers, 2, "only the api and the outbox projector read the key: %v", readers)
	assert.True(t, readers[shared.logicalID(t, "AWS::IAM::Role", "ApiRole")], "the api reads the key")
	for role := range readers {
		assert.True(t, role == shared.logicalID(t, "AWS::IAM::Role", "ApiRole") || strings.HasPrefix(role, "Projectoroutbox"), "%s reads the key", role)
	}
}
