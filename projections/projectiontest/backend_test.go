package projectiontest_test

import (
	"testing"

	"github.com/tenantstream/tenantstream/projections"
	"github.com/tenantstream/tenantstream/projections/projectiontest"
)

func TestMemoryBackend(t *testing.T) {
	t.Parallel()
	projectiontest.RunBackend(t, func(*testing.T) projections.Backend { return projections.NewMemoryBackend() })
}
