package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// catalog check loads a file as serve --catalog and the functions do, and
// prints what it sells or why it is invalid (make lambda CATALOG=FILE runs it).
func TestCatalogCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	yamlFile := writeCatalog(t)
	jsonFile := write("plans.json", `{"currency":"JPY","meters":[{"id":"gpu_seconds","name":"GPU seconds","aggregation":"sum"}],
		"plans":[{"id":"gold","name":"Gold","base_fee":"4200","prices":[{"meter":"gpu_seconds","model":"per_unit","unit_price":"1"}]}]}`)
	tests := []struct {
		name    string
		args    []string
		want    []string // regular expressions the output matches
		errText []string
	}{
		{"yaml", []string{yamlFile}, []string{
			`valid, currency USD, 2 plans; onboarding without a plan gets "basic"`,
			`(?m)^calls\s+sum`, `(?m)^api_requests\s+`,
			`(?m)^PLAN\s+NAME\s+BASE FEE \(USD\)\s+PRICES`,
			`(?m)^basic\s+31\.00\s+calls graduated`, `(?m)^pro\s+62\.00\s+calls per_unit`,
		}, nil},
		{"json, a currency without minor units", []string{jsonFile}, []string{
			`valid, currency JPY, 1 plan; onboarding without a plan gets "gold"`,
			`(?m)^gpu_seconds\s+sum\s+GPU seconds`, `(?m)^gold\s+Gold\s+4200\s+gpu_seconds per_unit`,
		}, nil},
		{"the embedded default, as shipped", []string{filepath.Join("..", "..", "commands", "catalog", "default.yaml")}, []string{
			`onboarding without a plan gets "free"`, `(?m)^starter\s+Starter\s+19\.00`, `(?m)^compute_seconds\s+sum`,
		}, nil},
		{"invalid", []string{write("bad.yaml", "currency: USD\nplans:\n  - id: basic\n    base_fee: \"1\"\n    prices:\n      - {meter: nope, model: per_unit, unit_price: \"1\"}\n")},
			nil, []string{"bad.yaml", "nope"}},
		{"missing", []string{filepath.Join(dir, "absent.yaml")}, nil, []string{"absent.yaml", "no such file"}},
		{"not yaml or json", []string{write("plans.toml", "currency = 'USD'")}, nil, []string{"plans.toml", "want .yaml, .yml or .json"}},
		{"no file", nil, nil, []string{"accepts 1 arg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, append([]string{"catalog", "check"}, tt.args...)...)
			if tt.errText != nil {
				require.Error(t, err, out)
				want := 1 // the file failed the check
				if tt.args == nil {
					want = 2 // a usage error
				}
				assert.Equal(t, want, exitStatus(err))
				for _, s := range tt.errText {
					assert.ErrorContains(t, err, s)
				}
				return
			}
			require.NoError(t, err, errOut)
			for _, re := range tt.want {
				assert.Regexp(t, re, out)
			}
		})
	}
}
