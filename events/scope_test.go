package events_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

func TestTenantScope(t *testing.T) {
	t.Parallel()
	scoped := events.WithTenantScope(context.Background(), "t1")
	tests := []struct {
		name     string
		ctx      context.Context
		target   events.TenantID
		wantOK   bool
		inScope  bool
		platform bool // CheckUnscoped passes
	}{
		{"unscoped reaches any tenant", context.Background(), "t2", false, true, true},
		{"scoped reaches its own tenant", scoped, "t1", true, true, false},
		{"scoped refuses another tenant", scoped, "t2", true, false, false},
		{"scoped refuses the platform tenant", scoped, "_platform", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := events.TenantScope(tt.ctx)
			require.Equal(t, tt.wantOK, ok)
			if ok {
				assert.Equal(t, events.TenantID("t1"), got)
			}
			err := events.CheckScope(tt.ctx, tt.target)
			if tt.inScope {
				assert.NoError(t, err)
			} else {
				require.ErrorIs(t, err, events.ErrOutOfScope)
				assert.Contains(t, err.Error(), string(tt.target), "the error names the tenant it refused")
			}
			if err := events.CheckUnscoped(tt.ctx, "read all"); tt.platform {
				assert.NoError(t, err)
			} else {
				require.ErrorIs(t, err, events.ErrOutOfScope)
				assert.Contains(t, err.Error(), "read all")
			}
		})
	}
}
