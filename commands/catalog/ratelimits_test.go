package catalog

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/billing"
)

// Rate limits in YAML, as an operator writes them (durations unquoted), parse
// to the canonical limits; mistakes are refused with their path.
func TestYAMLRateLimits(t *testing.T) {
	t.Parallel()
	c, err := ParseYAML([]byte(`currency: USD
plans:
  - id: free
    rate_limits:
      read: {rate: 50, per: 1s, burst: 200}
      default: {rate: 1, per: 1m}
`))
	require.NoError(t, err)
	p, err := c.Plan("free")
	require.NoError(t, err)
	w, ok := p.RateLimits.For(billing.ClassWrite)
	require.True(t, ok)
	assert.Equal(t, billing.RateLimit{Rate: 1, Per: "1m", Burst: 1}, w)

	for yaml, path := range map[string]string{
		"read: {rate: 50, per: 1s, burst: 2.5}": "plans[0].rate_limits.read.burst",
		"read: {rate: fifty, per: 1s}":          "plans[0].rate_limits.read.rate",
		"read: {rate: 5, per: 10s}":             "plans[0].rate_limits.read.per",
		"writes: {rate: 5, per: 1s}":            "plans[0].rate_limits.writes",
	} {
		_, err := ParseYAML([]byte("currency: USD\nplans:\n  - id: free\n    rate_limits:\n      " + yaml + "\n"))
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), path+": ", yaml)
	}

	d, err := Default().Plan("free")
	require.NoError(t, err)
	r, ok := d.RateLimits.For(billing.ClassRead)
	require.True(t, ok, "the default catalogue limits the free tier")
	assert.Equal(t, billing.RateLimit{Rate: 50, Per: "1s", Burst: 200}, r)
}
