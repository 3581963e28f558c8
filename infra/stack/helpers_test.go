package stack_test

import (
	"sync"
	"testing"

	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/infra/stack"
	"github.com/tenantstream/tenantstream/projections"
)

func strp(s string) *string  { return jsii.String(s) }
func num(n float64) *float64 { return jsii.Number(n) }

var (
	variantOnce sync.Once
	variantRes  *synthesized
	variantErr  error
)

// variant is a second synthesis, shared by the tests that need one: a throw-away
// development stack (destroy, no deletion protection) with e-mail subscriptions,
// built after a test-only projection was added to the default registry. Nothing
// in infra/ names that projection.
func variant(t *testing.T) *synthesized {
	t.Helper()
	variantOnce.Do(func() {
		projections.Register(extraProjection{})
		variantRes, variantErr = synth(map[string]any{
			"removalPolicy":      "destroy",
			"deletionProtection": "false",
			"notificationEmail":  "billing@example.com",
			"opsEmail":           "ops@example.com",
		}, stack.Props{})
	})
	require.NoError(t, variantErr)
	return variantRes
}
