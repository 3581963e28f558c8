package catalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tenantstream/tenantstream/domain/billing"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	assert.Equal(t, "USD", c.Currency)
	for _, id := range []string{"free", "starter", "pro"} {
		_, err := c.Plan(id)
		require.NoError(t, err, id)
	}
	m, ok := c.Meter("compute_seconds")
	require.True(t, ok, "the default declares a custom meter so the usage route works out of the box")
	assert.Equal(t, billing.AggSum, m.Aggregation)

	tests := []struct {
		plan  string
		usage map[string]string
		want  string
	}{
		{"free", map[string]string{"api_requests": "100000", "storage_bytes": "1073741824"}, "0.00"},
		{"starter", nil, "19.00"},
		// 19 + (2M - 1M free) x 0.00002 = 20; 50,000 writes are within the 100,000 included;
		// 121 s = 3 started minutes x 0.002 = 0.006 -> 0.01. Total 39.01.
		{"starter", map[string]string{"api_requests": "2000000", "item_writes": "50000", "compute_seconds": "121"}, "39.01"},
		// 99 + (20M - 10M free) x 0.00001 = 100; 1 GiB is within the 100 GiB free.
		{"pro", map[string]string{"api_requests": "20000000", "storage_bytes": "1073741824"}, "199.00"},
	}
	for _, tt := range tests {
		usage := map[string]decimal.Decimal{}
		for k, v := range tt.usage {
			usage[k] = decimal.RequireFromString(v)
		}
		q, err := billing.QuotePlan(c, tt.plan, usage)
		require.NoError(t, err)
		assert.Equal(t, tt.want, q.Subtotal.StringFixed(2), "%s %v", tt.plan, tt.usage)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	yml := "currency: EUR\nplans:\n  - id: basic\n    base_fee: \"5.00\"\n    prices:\n      - {meter: api_requests, model: per_unit, unit_price: 0.000000000001}\n"
	c, err := Load(write("c.yaml", yml))
	require.NoError(t, err)
	assert.Equal(t, "EUR", c.Currency)
	assert.Equal(t, "0.000000000001", c.Plans[0].Prices[0].UnitPrice.String(), "numbers keep their literal text, no float64")

	_, err = Load(write("c.yml", yml))
	require.NoError(t, err)
	_, err = Load(write("c.json", `{"currency":"JPY","plans":[{"id":"a","base_fee":"980"}]}`))
	require.NoError(t, err)

	_, err = Load(write("c.toml", yml))
	require.ErrorIs(t, err, ErrFormat)
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)

	bad := "currency: USD\nplans:\n  - id: a\n    prices:\n      - meter: api_requests\n        model: graduated\n        tiers:\n          - {up_to: 10, unit_price: \"1\"}\n          - {up_to: 5, unit_price: \"1\"}\n          - {unit_price: \"1\"}\n"
	_, err = Load(write("bad.yaml", bad))
	require.ErrorIs(t, err, billing.ErrInvalidCatalog)
	assert.Contains(t, err.Error(), "plans[0].prices[0].tiers[1].up_to: must be greater than the previous tier's")

	_, err = Load(write("unknown.yaml", "currency: USD\nplans: [{id: a, colour: red}]\n"))
	require.ErrorIs(t, err, billing.ErrInvalidCatalog)
}

func TestParseYAMLRejects(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"hex number":    "currency: USD\nplans: [{id: a, base_fee: 0x10}]\n",
		"alias":         "currency: USD\nx: &a 1\nplans: [{id: a, base_fee: *a}]\n",
		"two documents": "currency: USD\nplans: [{id: a}]\n---\ncurrency: EUR\n",
		"empty":         "",
		"syntax":        "currency: [\n",
	} {
		_, err := ParseYAML([]byte(in))
		require.Error(t, err, name)
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte("currency: USD\nplans: [{id: a, base_fee: \"1\"}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseYAML(data)
		if err == nil {
			require.NotEmpty(t, c.Plans)
		}
	})
}
