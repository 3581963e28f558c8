package stack_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/infra/stack"
)

// TestProjectorsCannotStarveTheAPI: every projector has reserved concurrency, so a
// projection backlog cannot use the concurrency the api needs, and its queue's
// event source mapping is capped at the same number, so the poller never invokes
// into a throttle (docs/aws.md, "Concurrency"). The api keeps the unreserved pool.
func TestProjectorsCannotStarveTheAPI(t *testing.T) {
	for _, s := range []struct {
		name string
		res  *synthesized
		want float64
	}{{"default", shared, stack.DefaultProjectorConcurrency}, {"context", concurrencyVariant(t), 12}} {
		t.Run(s.name, func(t *testing.T) {
			var projectors int
			for id, fn := range s.res.ofType("AWS::Lambda::Function") {
				reserved, has := fn.Properties["ReservedConcurrentExecutions"]
				if !strings.HasPrefix(id, "Projector") {
					assert.False(t, has, "%s draws on the unreserved pool", id)
					continue
				}
				projectors++
				assert.Equal(t, s.want, reserved, "%s is reserved", id)
			}
			require.Positive(t, projectors)
			var mappings int
			for id, m := range s.res.ofType("AWS::Lambda::EventSourceMapping") {
				if !strings.HasPrefix(refID(m.Properties["FunctionName"]), "Projector") {
					continue
				}
				mappings++
				assert.Equal(t, map[string]any{"MaximumConcurrency": s.want}, m.Properties["ScalingConfig"], "%s is capped at the reserved concurrency", id)
			}
			assert.Equal(t, projectors, mappings)
		})
	}
}

func concurrencyVariant(t *testing.T) *synthesized {
	t.Helper()
	s, err := synth(map[string]any{"projectorConcurrency": "12"}, stack.Props{Projections: registered})
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(s.outdir) })
	return s
}
