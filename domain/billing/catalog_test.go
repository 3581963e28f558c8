package billing

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const issue4Catalog = `{
  "currency": "USD",
  "meters": [{"id": "api_calls", "aggregation": "count"},
             {"id": "storage_gb", "aggregation": "max"},
             {"id": "seats", "aggregation": "unique_count", "property": "user"}],
  "plans": [{
    "id": "pro", "base_fee": "49.00", "base_fee_timing": "arrears",
    "prices": [
      {"meter": "api_calls", "model": "graduated", "transform_quantity": {"divide_by": 10, "round": "up"},
       "tiers": [{"up_to": 5, "unit_price": "5", "flat_fee": "0"}, {"up_to": 10, "unit_price": "4"}, {"unit_price": "1"}]},
      {"meter": "storage_gb", "model": "package", "package_size": 100, "package_price": "5", "free_units": 100},
      {"meter": "seats", "model": "per_unit", "unit_price": "0.0001", "included_units": 1000}
    ],
    "minimum_charge": "10.00"
  }]
}`

func TestParseCatalogIssue4Example(t *testing.T) {
	t.Parallel()
	c, err := ParseCatalog([]byte(issue4Catalog))
	require.NoError(t, err)
	assert.Equal(t, int32(2), c.MinorUnits())
	p, err := c.Plan("pro")
	require.NoError(t, err)
	assert.Equal(t, TimingArrears, p.Timing())
	m, ok := c.Meter(MeterStorageBytes)
	require.True(t, ok, "built-in meters exist without being declared")
	assert.Equal(t, AggMax, m.Aggregation)
	_, err = c.Plan("nope")
	require.ErrorIs(t, err, ErrUnknownPlan)
}

func TestParseCatalogErrorsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json, path string
	}{
		{"unknown currency", `{"currency":"XYZ","plans":[{"id":"a"}]}`, "currency"},
		{"no plans", `{"currency":"USD","plans":[]}`, "plans"},
		{"bad aggregation", `{"currency":"USD","meters":[{"id":"m","aggregation":"avg"}],"plans":[{"id":"a"}]}`, "meters[0].aggregation"},
		{"unique without property", `{"currency":"USD","meters":[{"id":"m","aggregation":"unique_count"}],"plans":[{"id":"a"}]}`, "meters[0].property"},
		{"redefined builtin", `{"currency":"USD","meters":[{"id":"storage_bytes","aggregation":"sum"}],"plans":[{"id":"a"}]}`, "meters[0].aggregation"},
		{"duplicate plan", `{"currency":"USD","plans":[{"id":"a"},{"id":"a"}]}`, "plans[1].id"},
		{"negative base fee", `{"currency":"USD","plans":[{"id":"a","base_fee":"-1"}]}`, "plans[0].base_fee"},
		{"bad timing", `{"currency":"USD","plans":[{"id":"a","base_fee_timing":"later"}]}`, "plans[0].base_fee_timing"},
		{"unknown meter", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"x","model":"per_unit","unit_price":"1"}]}]}`, "plans[0].prices[0].meter"},
		{"missing unit price", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"per_unit"}]}]}`, "plans[0].prices[0].unit_price"},
		{"too precise", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"per_unit","unit_price":"0.0000000000001"}]}]}`, "plans[0].prices[0].unit_price"},
		{"tiers not increasing", `{"currency":"USD","plans":[{"id":"a"},{"id":"b","prices":[{"meter":"api_requests","model":"graduated","tiers":[{"up_to":5,"unit_price":"1"},{"up_to":10,"unit_price":"1"},{"up_to":10,"unit_price":"1"},{"unit_price":"1"}]}]}]}`, "plans[1].prices[0].tiers[2].up_to"},
		{"open middle tier", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"volume","tiers":[{"unit_price":"1"},{"unit_price":"1"}]}]}]}`, "plans[0].prices[0].tiers[0].up_to"},
		{"bounded last tier", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"volume","tiers":[{"up_to":3,"unit_price":"1"}]}]}]}`, "plans[0].prices[0].tiers[0].up_to"},
		{"package size zero", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"package","package_size":0,"package_price":"1"}]}]}`, "plans[0].prices[0].package_size"},
		{"tiers on per unit", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"per_unit","unit_price":"1","tiers":[{"unit_price":"1"}]}]}]}`, "plans[0].prices[0].tiers"},
		{"bad round", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"per_unit","unit_price":"1","transform_quantity":{"divide_by":2,"round":"half"}}]}]}`, "plans[0].prices[0].transform_quantity.round"},
		{"priced twice", `{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"per_unit","unit_price":"1"},{"meter":"api_requests","model":"per_unit","unit_price":"2"}]}]}`, "plans[0].prices[1].meter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCatalog([]byte(tt.json))
			require.ErrorIs(t, err, ErrInvalidCatalog)
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "want a FieldError, got %v", err)
			assert.Contains(t, err.Error(), tt.path+": ")
		})
	}
}

func TestParseCatalogStrictDecoding(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"unknown field": `{"currency":"USD","plans":[{"id":"a","colour":"red"}]}`,
		"trailing data": `{"currency":"USD","plans":[{"id":"a"}]} {}`,
		"not json":      `currency: USD`,
		"float string":  `{"currency":"USD","plans":[{"id":"a","base_fee":"1.2.3"}]}`,
	} {
		_, err := ParseCatalog([]byte(in))
		require.ErrorIs(t, err, ErrInvalidCatalog, name)
	}
}

func FuzzParseCatalog(f *testing.F) {
	f.Add([]byte(issue4Catalog))
	f.Add([]byte(`{"currency":"JPY","plans":[{"id":"a","base_fee":"1e3"}]}`))
	f.Add([]byte(`{"currency":"USD","plans":[{"id":"a","prices":[{"meter":"api_requests","model":"volume","tiers":[{"up_to":"1e40","unit_price":"1"},{"unit_price":"0"}]}]}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(rateLimitCatalog(`{"read":{"rate":50,"per":"1s","burst":100},"default":{"rate":1,"per":"1h"}}`)))
	f.Add([]byte(rateLimitCatalog(`{"reads":{"rate":1.5,"per":2,"brust":-1},"write":null,"usage":[]}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCatalog(data)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidCatalog)
			return
		}
		// A valid catalogue must price any quantity of any plan without panicking,
		// and its rate limits must be usable limits.
		for _, p := range c.Plans {
			for _, class := range append(RouteClasses(), ClassDefault) {
				if l, ok := p.RateLimits.For(class); ok {
					require.Positive(t, l.Interval(), "plan %s class %s", p.ID, class)
					require.Positive(t, l.Burst)
				}
			}
			_, err := QuotePlan(c, p.ID, map[string]decimal.Decimal{MeterAPIRequests: d("12345.678")})
			require.NoError(t, err)
		}
	})
}
