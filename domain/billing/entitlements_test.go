package billing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const featuresCatalog = `{"currency":"USD","meters":[{"id":"compute_seconds","aggregation":"sum"}],"plans":[
 {"id":"free","base_fee":"0","features":{"sso":false,"seats":1,
   "item_writes":{"limit":100,"period":"month","on_exceed":"block"},
   "compute":{"meter":"compute_seconds","limit":"60","on_exceed":"notify"}}},
 {"id":"starter","base_fee":"19","prices":[{"meter":"item_writes","model":"per_unit","unit_price":"0.001"}],
   "features":{"seats":5,"item_writes":{"limit":1000,"on_exceed":"overage"}}},
 {"id":"pro","base_fee":"99","features":{"sso":true,"seats":50}}]}`

func TestFeaturesParseAndCanonicalJSONGolden(t *testing.T) {
	c := bookCatalog(t, featuresCatalog)
	free, err := c.Plan("free")
	require.NoError(t, err)
	iw := free.Features["item_writes"]
	assert.Equal(t, FeatureMetered, iw.Kind)
	assert.Equal(t, "item_writes", iw.Meter, "the meter defaults to the feature's name")
	assert.Equal(t, ExceedBlock, iw.OnExceed)
	assert.True(t, decimal.NewFromInt(100).Equal(iw.Limit))
	assert.Equal(t, PeriodMonth, free.Features["compute"].Period, "the period defaults to month")
	assert.Equal(t, FeatureBoolean, free.Features["sso"].Kind)
	assert.Equal(t, FeatureNumeric, free.Features["seats"].Kind)

	got, err := json.MarshalIndent(c.Plans, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", "plans_features.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got), "the canonical JSON of plans with features changed: that re-versions every published plan")

	// The canonical form reads back as the same plans (a catalog.published round trip).
	back := bookCatalog(t, `{"currency":"USD","meters":[{"id":"compute_seconds","aggregation":"sum"}],"plans":`+string(got)+`}`)
	again, err := json.MarshalIndent(back.Plans, "", "  ")
	require.NoError(t, err)
	assert.Equal(t, string(got), string(append(again, '\n')))
}

func TestAChangedFeatureMakesANewPlanVersion(t *testing.T) {
	base := `{"currency":"USD","plans":[{"id":"free","base_fee":"0","features":%s}]}`
	tests := []struct {
		name     string
		from, to string
		newVer   bool
	}{
		{"same features", `{"seats":1}`, `{"seats":1}`, false},
		{"same limit spelt differently", `{"item_writes":{"limit":100,"on_exceed":"block"}}`, `{"item_writes":{"meter":"item_writes","limit":"100.0","period":"month","on_exceed":"block"}}`, false},
		{"limit changed", `{"item_writes":{"limit":100,"on_exceed":"block"}}`, `{"item_writes":{"limit":200,"on_exceed":"block"}}`, true},
		{"on_exceed changed", `{"item_writes":{"limit":100,"on_exceed":"block"}}`, `{"item_writes":{"limit":100,"on_exceed":"notify"}}`, true},
		{"feature added", `{"seats":1}`, `{"seats":1,"sso":true}`, true},
		{"boolean flipped", `{"sso":false}`, `{"sso":true}`, true},
		{"features removed", `{"seats":1}`, `{}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, created := publishAll(t, sprintf(base, tt.from), sprintf(base, tt.to))
			if tt.newVer {
				assert.Equal(t, []PlanRef{{Plan: "free", Version: 2}}, created[1])
				assert.Equal(t, 2, b.Versions("free"))
			} else {
				assert.Empty(t, created[1])
				assert.Equal(t, 1, b.Versions("free"))
			}
		})
	}
}

func sprintf(format, s string) string {
	out := []byte{}
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) && format[i+1] == 's' {
			out = append(out, s...)
			i++
			continue
		}
		out = append(out, format[i])
	}
	return string(out)
}

func TestFeatureErrorsNameTheirPath(t *testing.T) {
	tests := []struct {
		name, features, want string
	}{
		{"unknown meter", `{"gpu":{"limit":1,"on_exceed":"block"}}`, `plans[0].features.gpu: unknown meter "gpu"`},
		{"unknown named meter", `{"x":{"meter":"gpu","limit":1,"on_exceed":"block"}}`, `plans[0].features.x.meter: unknown meter "gpu"`},
		{"period", `{"item_writes":{"limit":1,"period":"day","on_exceed":"block"}}`, `plans[0].features.item_writes.period: must be month`},
		{"on_exceed missing", `{"item_writes":{"limit":1}}`, `plans[0].features.item_writes.on_exceed: is required`},
		{"on_exceed bad", `{"item_writes":{"limit":1,"on_exceed":"shout"}}`, `plans[0].features.item_writes.on_exceed: must be block, notify or overage`},
		{"block on requests", `{"api_requests":{"limit":1,"on_exceed":"block"}}`, `plans[0].features.api_requests.on_exceed: block cannot be enforced on api_requests`},
		{"overage without price", `{"item_writes":{"limit":1,"on_exceed":"overage"}}`, `plans[0].features.item_writes.on_exceed: overage bills item_writes`},
		{"negative limit", `{"item_writes":{"limit":-1,"on_exceed":"block"}}`, `plans[0].features.item_writes.limit: must not be negative`},
		{"limit missing", `{"item_writes":{"on_exceed":"block"}}`, `plans[0].features.item_writes: limit is required`},
		{"unknown field", `{"item_writes":{"limit":1,"on_exceed":"block","reset":"daily"}}`, `plans[0].features.item_writes: a metered feature is`},
		{"fractional seats", `{"seats":1.5}`, `plans[0].features.seats: must be a whole number`},
		{"seats not a number", `{"seats":true}`, `plans[0].features.seats: seats is the number of users`},
		{"string value", `{"sso":"yes"}`, `plans[0].features.sso: must be a non-negative number`},
		{"array value", `{"sso":[true]}`, `plans[0].features.sso: must be true, false, a number or an object`},
		{"bad name", `{"SSO":true}`, `plans[0].features: feature name "SSO" must be`},
		{"two features on a meter", `{"a":{"meter":"item_writes","limit":1,"on_exceed":"block"},"b":{"meter":"item_writes","limit":2,"on_exceed":"notify"}}`, `plans[0].features.b.meter: meter "item_writes" is limited by feature "a" already`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalog([]byte(`{"currency":"USD","plans":[{"id":"p","base_fee":"0","features":` + tt.features + `}]}`))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidCatalog)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestResolveAppliesOverridesOnThePlanVersion(t *testing.T) {
	c := bookCatalog(t, featuresCatalog)
	free, _ := c.Plan("free")
	hundred := decimal.NewFromInt(100)
	tests := []struct {
		name      string
		feature   string
		ov        Overrides
		allowed   bool
		unlimited bool
		limit     string
		kind      FeatureKind
	}{
		{"plan boolean", "sso", nil, false, false, "0", FeatureBoolean},
		{"granted boolean", "sso", Overrides{"sso": {Action: OverrideAllow}}, true, false, "0", FeatureBoolean},
		{"plan limit", "item_writes", nil, true, false, "100", FeatureMetered},
		{"lifted limit", "item_writes", Overrides{"item_writes": {Action: OverrideAllow}}, true, true, "100", FeatureMetered},
		{"set limit", "item_writes", Overrides{"item_writes": {Action: OverrideLimit, Limit: decimal.NewFromInt(5)}}, true, false, "5", FeatureMetered},
		{"denied", "item_writes", Overrides{"item_writes": {Action: OverrideDeny}}, false, false, "0", FeatureMetered},
		{"feature only in an override", "beta", Overrides{"beta": {Action: OverrideAllow}}, true, false, "0", FeatureBoolean},
		{"numeric only in an override", "projects", Overrides{"projects": {Action: OverrideLimit, Limit: hundred}}, true, false, "100", FeatureNumeric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := Resolve(free, tt.ov, tt.feature)
			require.True(t, ok)
			assert.Equal(t, tt.allowed, e.Allowed)
			assert.Equal(t, tt.unlimited, e.Unlimited)
			assert.Equal(t, tt.limit, e.Limit.String())
			assert.Equal(t, tt.kind, e.Kind)
		})
	}
	_, ok := Resolve(free, nil, "nope")
	assert.False(t, ok)
}

func TestAdmitsAndTheCheapestPlanThatLifts(t *testing.T) {
	c := bookCatalog(t, featuresCatalog)
	free, _ := c.Plan("free")
	e, ok := MeterFeature(free, nil, MeterItemWrites)
	require.True(t, ok)
	assert.True(t, e.Admits(decimal.NewFromInt(99), decimal.NewFromInt(1)), "the 100th write is within the limit")
	assert.False(t, e.Admits(decimal.NewFromInt(100), decimal.NewFromInt(1)), "the 101st is not")
	n, ok := MeterFeature(free, nil, "compute_seconds")
	require.True(t, ok)
	assert.True(t, n.Admits(decimal.NewFromInt(1000), decimal.NewFromInt(1)), "notify lets usage through")
	_, ok = MeterFeature(free, nil, MeterAPIRequests)
	assert.False(t, ok, "nothing limits api_requests on free")

	assert.Equal(t, "starter", Lifts(c, "free", nil, "item_writes", MeterItemWrites, decimal.NewFromInt(101)), "starter's overage admits it and is cheaper than pro")
	assert.Equal(t, "starter", Lifts(c, "free", nil, FeatureSeats, "", decimal.NewFromInt(2)))
	assert.Equal(t, "pro", Lifts(c, "free", nil, FeatureSeats, "", decimal.NewFromInt(6)))
	assert.Equal(t, "", Lifts(c, "free", nil, FeatureSeats, "", decimal.NewFromInt(51)))
	assert.Equal(t, "pro", Lifts(c, "free", nil, "sso", "", decimal.Zero))
	deny := Overrides{"item_writes": {Action: OverrideDeny}}
	assert.Equal(t, "", Lifts(c, "free", deny, "item_writes", MeterItemWrites, decimal.NewFromInt(1)), "an operator's deny holds on every plan")
}

func TestOverridesFoldAndValidate(t *testing.T) {
	five := decimal.NewFromInt(5)
	o := Overrides{}
	o.Apply(&EntitlementOverridden{Feature: "seats", Action: OverrideLimit, Limit: &five, Reason: "r", At: time.Unix(0, 0)})
	o.Apply(&EntitlementOverridden{Feature: "sso", Action: OverrideAllow, Reason: "r"})
	o.Apply(&EntitlementOverridden{Feature: "sso", Action: OverrideClear, Reason: "r"})
	assert.Equal(t, Overrides{"seats": {Action: OverrideLimit, Limit: five}}, o)

	neg := decimal.NewFromInt(-1)
	for _, bad := range []EntitlementOverridden{
		{Feature: "", Action: OverrideAllow, Reason: "r"},
		{Feature: "sso", Action: "grant", Reason: "r"},
		{Feature: "seats", Action: OverrideLimit, Reason: "r"},
		{Feature: "seats", Action: OverrideLimit, Limit: &neg, Reason: "r"},
		{Feature: "sso", Action: OverrideAllow, Limit: &five, Reason: "r"},
		{Feature: "sso", Action: OverrideAllow, Reason: " "},
	} {
		assert.Error(t, ValidateOverride(&bad), "%+v", bad)
	}
	assert.NoError(t, ValidateOverride(&EntitlementOverridden{Feature: "seats", Action: OverrideLimit, Limit: &five, Reason: "support ticket 42"}))
}
