package billing

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }
func dp(s string) *decimal.Decimal {
	v := d(s)
	return &v
}

func tier(upTo, unit, flat string) Tier {
	t := Tier{UnitPrice: d(unit), FlatFee: d(flat)}
	if upTo != "" {
		t.UpTo = dp(upTo)
	}
	return t
}

// Stripe's tiered-pricing page (docs.stripe.com/subscriptions/pricing-models/tiered-pricing):
// fonts 1-5 at 7 USD, 6-10 at 6.50 USD, 11+ at 6 USD.
var stripeFonts = []Tier{tier("5", "7", "0"), tier("10", "6.5", "0"), tier("", "6", "0")}

// Lago's graduated example, and tiers with a flat fee to check Lago's flat fee
// semantics: 2 per unit up to 100 units plus a flat 100, then 0.50 per unit.
var (
	lagoGraduated = []Tier{tier("100", "1", "0"), tier("200", "0.5", "0"), tier("", "0.1", "0")}
	lagoFlat      = []Tier{tier("100", "2", "100"), tier("", "0.5", "0")}
)

func TestPriceWorkedExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		source string
		price  Price
		qty    string
		want   string
	}{
		// Stripe volume-based table.
		{"stripe volume 1", "Stripe tiered pricing, volume", Price{Model: ModelVolume, Tiers: stripeFonts}, "1", "7"},
		{"stripe volume 5", "Stripe tiered pricing, volume", Price{Model: ModelVolume, Tiers: stripeFonts}, "5", "35"},
		{"stripe volume 6", "Stripe tiered pricing, volume", Price{Model: ModelVolume, Tiers: stripeFonts}, "6", "39"},
		{"stripe volume 20", "Stripe tiered pricing, volume", Price{Model: ModelVolume, Tiers: stripeFonts}, "20", "120"},
		{"stripe volume 25", "Stripe tiered pricing, volume", Price{Model: ModelVolume, Tiers: stripeFonts}, "25", "150"},
		// Stripe graduated table: 5x7 + 1x6.5 = 41.5; 35 + 32.5 + 10x6 = 127.5; + 5x6 = 157.5.
		{"stripe graduated 1", "Stripe tiered pricing, graduated", Price{Model: ModelGraduated, Tiers: stripeFonts}, "1", "7"},
		{"stripe graduated 5", "Stripe tiered pricing, graduated", Price{Model: ModelGraduated, Tiers: stripeFonts}, "5", "35"},
		{"stripe graduated 6", "Stripe tiered pricing, graduated", Price{Model: ModelGraduated, Tiers: stripeFonts}, "6", "41.5"},
		{"stripe graduated 20", "Stripe tiered pricing, graduated", Price{Model: ModelGraduated, Tiers: stripeFonts}, "20", "127.5"},
		{"stripe graduated 25", "Stripe tiered pricing, graduated", Price{Model: ModelGraduated, Tiers: stripeFonts}, "25", "157.5"},
		// Lago volume guide (getlago.com/docs/guide/plans/charges/charge-models/volume):
		// 65,000 calls land in tier 3: 65,000 x 0.0006 + 10 flat = 49.
		{"lago volume flat fee", "Lago volume charge model", Price{Model: ModelVolume, Tiers: []Tier{
			tier("10000", "0.001", "10"), tier("50000", "0.0008", "10"), tier("100000", "0.0006", "10"), tier("", "0.0004", "10")}}, "65000", "49"},
		// Lago package guide (getlago.com/docs/guide/plans/charges/charge-models/package):
		// 5 per 100 units, first 100 free; 201 units cost 0 + 5 + 5 = 10.
		{"lago package 201", "Lago package charge model", Price{Model: ModelPackage, PackageSize: dp("100"), PackagePrice: dp("5"), FreeUnits: dp("100")}, "201", "10"},
		{"lago package free only", "Lago package charge model", Price{Model: ModelPackage, PackageSize: dp("100"), PackagePrice: dp("5"), FreeUnits: dp("100")}, "100", "0"},
		{"package zero usage", "zero usage charges nothing", Price{Model: ModelPackage, PackageSize: dp("100"), PackagePrice: dp("5")}, "0", "0"},
		// Stripe transform quantities (docs.stripe.com/billing/subscriptions/usage-based/transform-quantities):
		// 10 USD per hour, minutes divided by 60 rounded up: 150 minutes cost 30 USD.
		{"stripe transform car rental", "Stripe transform quantities", Price{Model: ModelPerUnit, UnitPrice: dp("10"),
			TransformQuantity: &TransformQuantity{DivideBy: d("60"), Round: "up"}}, "150", "30"},
		// Stripe quantity transformation: 10 USD per 5 users rounded up; 6 users cost 20, 5 cost 10.
		{"stripe transform users 6", "Stripe quantity transformation", Price{Model: ModelPerUnit, UnitPrice: dp("10"),
			TransformQuantity: &TransformQuantity{DivideBy: d("5"), Round: "up"}}, "6", "20"},
		{"stripe transform users 5", "Stripe quantity transformation", Price{Model: ModelPerUnit, UnitPrice: dp("10"),
			TransformQuantity: &TransformQuantity{DivideBy: d("5"), Round: "up"}}, "5", "10"},
		{"transform round down", "Stripe quantity transformation, round down", Price{Model: ModelPerUnit, UnitPrice: dp("10"),
			TransformQuantity: &TransformQuantity{DivideBy: d("5"), Round: "down"}}, "9", "10"},
		// Zuplo pricing models (zuplo.com/docs/articles/monetization/pricing-models): graduated
		// 1,000 x 0.10 + 9,000 x 0.05 + 5,000 x 0.01 = 600; volume 15,000 x 0.01 = 150.
		{"zuplo graduated", "Zuplo pricing models", Price{Model: ModelGraduated, Tiers: []Tier{
			tier("1000", "0.10", "0"), tier("10000", "0.05", "0"), tier("", "0.01", "0")}}, "15000", "600"},
		{"zuplo volume", "Zuplo pricing models", Price{Model: ModelVolume, Tiers: []Tier{
			tier("1000", "0.10", "0"), tier("10000", "0.05", "0"), tier("", "0.01", "0")}}, "15000", "150"},
		// Autumn graduated pricing: 1,000 x 0.01 + 9,000 x 0.008 + 5,000 x 0.005 = 107.
		{"autumn graduated", "Autumn graduated pricing", Price{Model: ModelGraduated, Tiers: []Tier{
			tier("1000", "0.01", "0"), tier("10000", "0.008", "0"), tier("", "0.005", "0")}}, "15000", "107"},
		// A catalogue example: graduated with flat fee on tier 1; 12 units = (5x5 + 2) + (5x4 + 3) + 2x1 = 52.
		{"graduated flat fees reached", "the catalogue schema", Price{Model: ModelGraduated, Tiers: []Tier{
			tier("5", "5", "2"), tier("10", "4", "3"), tier("", "1", "0")}}, "12", "52"},
		{"graduated zero usage", "no tier reached", Price{Model: ModelGraduated, Tiers: []Tier{tier("5", "5", "2"), tier("", "1", "0")}}, "0", "0"},
		// Lago graduated guide (getlago.com/docs/guide/plans/charges/charge-models/graduated):
		// 1 per unit for the first 100, 0.50 for the next 100, 0.10 after; 250 units
		// cost 100 + 50 + 5 = 155.
		{"lago graduated 250", "Lago graduated charge model", Price{Model: ModelGraduated, Tiers: lagoGraduated}, "250", "155"},
		// Lago's flat fee semantics (lago-api GraduatedService: a range's flat amount
		// is added for every range the units reach, "unless units.zero?"): a flat
		// fee applies to the whole tier once usage enters it, and zero usage
		// charges no flat fee at all. OpenMeter differs here (it bills the first
		// tier's flat price at zero usage); docs/billing.md follows Lago.
		{"lago flat fee at zero usage", "lago-api GraduatedService, units.zero?", Price{Model: ModelGraduated, Tiers: lagoFlat}, "0", "0"},
		{"lago flat fee first unit", "lago-api GraduatedService", Price{Model: ModelGraduated, Tiers: lagoFlat}, "1", "102"},
		{"lago flat fee at the tier's last unit", "lago-api GraduatedService: stops at the range holding the units", Price{Model: ModelGraduated, Tiers: lagoFlat}, "100", "300"},
		{"lago flat fee entering tier 2", "lago-api GraduatedService", Price{Model: ModelGraduated, Tiers: lagoFlat}, "101", "300.5"},
		{"lago flat fee a fraction into tier 2", "lago-api GraduatedService", Price{Model: ModelGraduated, Tiers: lagoFlat}, "100.5", "300.25"},
		{"per unit included", "the catalogue schema: seats", Price{Model: ModelPerUnit, UnitPrice: dp("0.0001"), IncludedUnits: dp("1000")}, "251000", "25"},
		{"per unit within included", "the catalogue schema: seats", Price{Model: ModelPerUnit, UnitPrice: dp("0.0001"), IncludedUnits: dp("1000")}, "999", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.price.Price(d(tt.qty))
			assert.True(t, c.Amount.Equal(d(tt.want)), "%s: got %s want %s", tt.source, c.Amount, tt.want)
		})
	}
}

func TestGraduatedEqualsSumOfTierSlices(t *testing.T) {
	t.Parallel()
	p := Price{Model: ModelGraduated, Tiers: []Tier{tier("3", "1.5", "1"), tier("7.5", "0.25", "0.5"), tier("", "0.1", "2")}}
	for q := int64(0); q <= 40; q++ {
		c := p.Price(decimal.NewFromInt(q))
		sum, units := decimal.Zero, decimal.Zero
		for _, tc := range c.Tiers {
			sum = sum.Add(tc.Units.Mul(tc.UnitPrice).Add(tc.FlatFee))
			units = units.Add(tc.Units)
		}
		require.True(t, c.Amount.Equal(sum), "q=%d", q)
		require.True(t, units.Equal(decimal.NewFromInt(q)), "q=%d units=%s", q, units)
	}
}

func TestMoreUsageNeverCostsLess(t *testing.T) {
	t.Parallel()
	prices := map[string]Price{
		"per_unit":  {Model: ModelPerUnit, UnitPrice: dp("0.37"), IncludedUnits: dp("10")},
		"graduated": {Model: ModelGraduated, Tiers: []Tier{tier("10", "2", "5"), tier("100", "1", "1"), tier("", "0.5", "0")}},
		"package":   {Model: ModelPackage, PackageSize: dp("25"), PackagePrice: dp("3"), FreeUnits: dp("5")},
		"transform": {Model: ModelPerUnit, UnitPrice: dp("1"), TransformQuantity: &TransformQuantity{DivideBy: d("7"), Round: "up"}},
	}
	for name, p := range prices {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			prev := decimal.Zero
			for q := int64(0); q <= 500; q++ {
				amt := p.Price(decimal.NewFromInt(q)).Amount
				require.False(t, amt.LessThan(prev), "q=%d costs %s < %s", q, amt, prev)
				prev = amt
			}
		})
	}
}

func TestRoundMoneyHalfAwayFromZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		minor int32
		want  string
	}{
		{"1.005", 2, "1.01"}, {"-1.005", 2, "-1.01"}, {"1.0049999", 2, "1"}, {"-1.0049999", 2, "-1"},
		{"2.5", 0, "3"}, {"-2.5", 0, "-3"}, {"0.5", 0, "1"}, {"1234.4999", 0, "1234"}, // JPY
		{"0.0005", 3, "0.001"}, {"-0.0005", 3, "-0.001"}, {"1.2344", 3, "1.234"}, // BHD
		{"0.125", 2, "0.13"}, {"-0.125", 2, "-0.13"}, {"7", 2, "7"},
	}
	for _, tt := range tests {
		got := RoundMoney(d(tt.in), tt.minor)
		assert.True(t, got.Equal(d(tt.want)), "round %s to %d: got %s want %s", tt.in, tt.minor, got, tt.want)
	}
}

func TestMinorUnits(t *testing.T) {
	t.Parallel()
	for cur, want := range map[string]int32{"USD": 2, "EUR": 2, "JPY": 0, "BHD": 3, "KWD": 3} {
		got, err := MinorUnits(cur)
		require.NoError(t, err)
		assert.Equal(t, want, got, cur)
	}
	_, err := MinorUnits("XXX")
	require.ErrorIs(t, err, ErrUnknownCurrency)
}
