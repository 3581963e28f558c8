package billing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const alertsCatalog = `{"currency":"USD","meters":[{"id":"calls","aggregation":"sum"},{"id":"level","aggregation":"latest"}],"plans":[
 {"id":"free","base_fee":"0","features":{"item_writes":{"limit":100,"on_exceed":"block"},"calls":{"limit":"1000","on_exceed":"notify"}},
  "alerts":[{"percent_of_limit":80},{"meter":"calls","quantity":"500.0"},{"subtotal":"10.00"}]},
 {"id":"pro","base_fee":"30.00","prices":[{"meter":"calls","model":"per_unit","unit_price":"0.01"},{"meter":"item_writes","model":"per_unit","unit_price":"0.10","included_units":2}]}]}`

func TestPlanAlertsParseNormalizedAndVersioned(t *testing.T) {
	c := bookCatalog(t, alertsCatalog)
	free, err := c.Plan("free")
	require.NoError(t, err)
	assert.Equal(t, []Threshold{{PercentOfLimit: ptr(80)}, {Meter: "calls", Quantity: "500"}, {Subtotal: "10"}}, free.Alerts,
		"decimals in their shortest form, so an equal catalogue is the same plan version")
	raw, err := json.Marshal(free)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"alerts":[{"percent_of_limit":80},{"meter":"calls","quantity":"500"},{"subtotal":"10"}]`)
	pro, err := c.Plan("pro")
	require.NoError(t, err)
	raw, err = json.Marshal(pro)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "alerts", "a plan without alerts keeps its canonical JSON (and version)")

	for _, tc := range []struct{ alerts, path string }{
		{`[{"percent_of_limit":0}]`, "plans[0].alerts[0].percent_of_limit"},
		{`[{"meter":"nope","quantity":"1"}]`, "plans[0].alerts[0].meter"},
		{`[{"meter":"level","quantity":"1"}]`, "plans[0].alerts[0].meter"},
		{`[{"subtotal":"1.001"}]`, "plans[0].alerts[0].subtotal"},
		{`[{"subtotal":"1"},{"subtotal":"1.0"}]`, "plans[0].alerts[1]"},
	} {
		doc := `{"currency":"USD","meters":[{"id":"level","aggregation":"latest"}],"plans":[{"id":"a","base_fee":"0","alerts":` + tc.alerts + `}]}`
		_, err := ParseCatalog([]byte(doc))
		require.Error(t, err, tc.alerts)
		assert.Contains(t, err.Error(), tc.path, tc.alerts)
	}
}

func TestResolveThresholdsExpandsPercentsPerLimit(t *testing.T) {
	c := bookCatalog(t, alertsCatalog)
	free, err := c.Plan("free")
	require.NoError(t, err)
	got := ResolveThresholds(free.Alerts, free, Overrides{}, c.SortedMeterIDs())
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID+"="+a.Value.String())
	}
	assert.Equal(t, []string{"p-calls-80=800", "p-item_writes-80=80", "q-calls-500=500", "s-10=10"}, ids)

	// An override lifting a limit removes its percent threshold; one lowering it moves it.
	ten := decimal.NewFromInt(10)
	got = ResolveThresholds(free.Alerts, free, Overrides{"item_writes": {Action: OverrideAllow}, "calls": {Action: OverrideLimit, Limit: ten}}, c.SortedMeterIDs())
	ids = nil
	for _, a := range got {
		ids = append(ids, a.ID+"="+a.Value.String())
	}
	assert.Equal(t, []string{"p-calls-80=8", "q-calls-500=500", "s-10=10"}, ids)

	// A percent of a limit of 0, or of a meter with none, applies to nothing;
	// 0 never reaches a threshold.
	zero := ResolveThresholds([]Threshold{{Meter: "calls", PercentOfLimit: ptr(50)}}, free, Overrides{"calls": {Action: OverrideDeny}}, nil)
	assert.Empty(t, zero)
	a := AlertThreshold{Value: decimal.Zero}
	assert.False(t, a.Reached(decimal.Zero))
	assert.True(t, AlertThreshold{Value: ten}.Reached(ten), "reaching is enough")
}

func TestAlertConfigReplacesThePlanDefaults(t *testing.T) {
	c := bookCatalog(t, alertsCatalog)
	free, err := c.Plan("free")
	require.NoError(t, err)
	var cfg AlertConfig
	ths, src := cfg.Effective(free)
	assert.Equal(t, "plan", src)
	assert.Len(t, ths, 3)
	cfg.Apply(1, &AlertsConfigured{Thresholds: []Threshold{}, SpendCap: ptrS("25.5")})
	ths, src = cfg.Effective(free)
	assert.Equal(t, "tenant", src)
	assert.Empty(t, ths)
	assert.Equal(t, "25.5", cfg.SpendCap.String())
	cfg.Apply(2, &AlertsConfigured{Thresholds: []Threshold{{Subtotal: "5"}}})
	assert.Nil(t, cfg.SpendCap, "a configuration replaces the one before whole")
	assert.Equal(t, int64(2), cfg.Version)
}

func TestRateAddingEqualsRatingTheAddedUsage(t *testing.T) {
	c := bookCatalog(t, alertsCatalog)
	p := Period{Year: 2026, Month: 3}
	at := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	segs := []PlanSegment{{Plan: "free", Version: 1, From: p.Start(), To: at}, {Plan: "pro", Version: 1, From: at, To: p.End()}}
	l, err := NewLedger(c, p, at)
	require.NoError(t, err)
	_, err = l.Add(Usage{ID: "1", Meter: MeterItemWrites, Quantity: decimal.NewFromInt(4), OccurredAt: at.Add(time.Hour)})
	require.NoError(t, err)
	add := []Usage{{ID: "2", Meter: MeterItemWrites, Quantity: decimal.NewFromInt(3), OccurredAt: at.Add(2 * time.Hour)},
		{ID: "2", Meter: MeterItemWrites, Quantity: decimal.NewFromInt(3), OccurredAt: at.Add(2 * time.Hour)}, // the same record twice
		{ID: "1", Meter: MeterItemWrites, Quantity: decimal.NewFromInt(9), OccurredAt: at.Add(time.Hour)}}     // seen already
	got, err := RateAdding(c, segs, l, add)
	require.NoError(t, err)
	_, err = RateAdding(c, segs, l, []Usage{{ID: "m", Meter: MeterStorageBytes, Quantity: decimal.NewFromInt(1), OccurredAt: at}})
	require.ErrorIs(t, err, ErrNotAdditive)
	_, err = l.Add(Usage{ID: "2", Meter: MeterItemWrites, Quantity: decimal.NewFromInt(3), OccurredAt: at.Add(2 * time.Hour)})
	require.NoError(t, err)
	want, err := Rate(c, segs, l)
	require.NoError(t, err)
	assert.Equal(t, want.Subtotal.String(), got.Subtotal.String())
	assert.True(t, want.Subtotal.GreaterThan(decimal.NewFromInt(0)))
}

// FuzzValidateThresholds: any decoded list either fails with a field path
// under "thresholds" or validates to a normal form that validates to itself.
func FuzzValidateThresholds(f *testing.F) {
	f.Add([]byte(`[{"meter":"calls","quantity":"10"},{"percent_of_limit":80},{"subtotal":"5.00"}]`))
	f.Add([]byte(`[{"meter":"calls","percent_of_limit":1000},{"meter":"item_writes","quantity":"000.50"}]`))
	f.Add([]byte(`[{"subtotal":"1e3"},{"quantity":"1","percent_of_limit":2}]`))
	f.Add([]byte(`[{}]`))
	c, err := ParseCatalog([]byte(alertsCatalog))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ths []Threshold
		if json.Unmarshal(data, &ths) != nil {
			return
		}
		norm, err := c.ValidateThresholds("thresholds", ths)
		if err != nil {
			var te *ThresholdError
			require.ErrorAs(t, err, &te)
			require.True(t, strings.HasPrefix(te.Field, "thresholds"), te.Field)
			return
		}
		again, err := c.ValidateThresholds("thresholds", norm)
		require.NoError(t, err)
		require.Equal(t, norm, again)
		for _, th := range norm {
			require.NotEmpty(t, th.ID())
		}
	})
}

func ptr(n int) *int { return &n }

func ptrS(s string) *string { return &s }
