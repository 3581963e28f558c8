package billing

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func bookCatalog(t *testing.T, doc string) *Catalog {
	t.Helper()
	c, err := ParseCatalog([]byte(doc))
	require.NoError(t, err)
	return c
}

const bookA = `{"currency":"USD","meters":[{"id":"calls","aggregation":"sum"}],"plans":[
 {"id":"free","base_fee":"0"},
 {"id":"pro","base_fee":"30.00","prices":[{"meter":"calls","model":"per_unit","unit_price":"0.01"}]}]}`

// publishAll folds each catalogue into the book as a publisher would.
func publishAll(t *testing.T, docs ...string) (*Book, [][]PlanRef) {
	t.Helper()
	var b *Book
	var created [][]PlanRef
	for _, d := range docs {
		pub, err := b.Publish(bookCatalog(t, d), time.Unix(0, 0))
		require.NoError(t, err)
		if pub == nil {
			created = append(created, nil)
			continue
		}
		created = append(created, pub.Created)
		b, err = b.With(pub)
		require.NoError(t, err)
	}
	return b, created
}

func TestBookPublishVersionsOnlyChangedPlans(t *testing.T) {
	tests := []struct {
		name        string
		docs        []string
		wantCreated [][]PlanRef
		wantVersion int
	}{
		{"first publication creates version 1 of every plan", []string{bookA},
			[][]PlanRef{{{"free", 1}, {"pro", 1}}}, 1},
		{"an identical catalogue publishes nothing", []string{bookA, bookA},
			[][]PlanRef{{{"free", 1}, {"pro", 1}}, nil}, 1},
		{"the same prices written differently are the same plan", []string{bookA,
			`{"currency":"USD","meters":[{"id":"calls","aggregation":"sum"}],"plans":[
			 {"id":"free","base_fee":"0.00"},
			 {"id":"pro","base_fee":"30","prices":[{"meter":"calls","model":"per_unit","unit_price":"0.0100"}]}]}`},
			[][]PlanRef{{{"free", 1}, {"pro", 1}}, nil}, 1},
		{"a new price versions that plan only", []string{bookA,
			`{"currency":"USD","meters":[{"id":"calls","aggregation":"sum"}],"plans":[
			 {"id":"free","base_fee":"0"},
			 {"id":"pro","base_fee":"45.00","prices":[{"meter":"calls","model":"per_unit","unit_price":"0.01"}]}]}`},
			[][]PlanRef{{{"free", 1}, {"pro", 1}}, {{"pro", 2}}}, 2},
		{"a meter added without a plan change is a catalogue version without plan versions", []string{bookA,
			`{"currency":"USD","meters":[{"id":"calls","aggregation":"sum"},{"id":"seats","aggregation":"max"}],"plans":[
			 {"id":"free","base_fee":"0"},
			 {"id":"pro","base_fee":"30.00","prices":[{"meter":"calls","model":"per_unit","unit_price":"0.01"}]}]}`},
			[][]PlanRef{{{"free", 1}, {"pro", 1}}, {}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, created := publishAll(t, tt.docs...)
			for i := range created {
				if len(tt.wantCreated[i]) == 0 {
					assert.Empty(t, created[i], "publication %d", i)
					continue
				}
				assert.Equal(t, tt.wantCreated[i], created[i], "publication %d", i)
			}
			assert.Equal(t, tt.wantVersion, b.Version())
		})
	}
}

func TestBookRefusesChangesThatRewriteHistory(t *testing.T) {
	tests := []struct {
		name, doc string
	}{
		{"another currency", `{"currency":"EUR","meters":[{"id":"calls","aggregation":"sum"}],"plans":[{"id":"free"}]}`},
		{"a meter aggregated differently", `{"currency":"USD","meters":[{"id":"calls","aggregation":"max"}],"plans":[{"id":"free"}]}`},
		{"a meter removed", `{"currency":"USD","plans":[{"id":"free"}]}`},
	}
	b, _ := publishAll(t, bookA)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Publish(bookCatalog(t, tt.doc), time.Unix(0, 0))
			require.ErrorIs(t, err, ErrCatalogChange)
		})
	}
}

func TestBookKeepsEveryVersionAndRatesSegmentsWithTheirOwn(t *testing.T) {
	b, _ := publishAll(t, bookA,
		`{"currency":"USD","meters":[{"id":"calls","aggregation":"sum"}],"plans":[
		 {"id":"pro","base_fee":"60.00","prices":[{"meter":"calls","model":"per_unit","unit_price":"0.02"}]}]}`)
	v, err := b.LatestVersion("pro")
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	_, err = b.LatestVersion("free")
	assert.ErrorIs(t, err, ErrUnknownPlan, "a withdrawn plan takes no new subscriptions")
	_, err = b.PlanVersion("free", 1)
	assert.NoError(t, err, "but its versions stay for the tenants on them")
	_, err = b.PlanVersion("pro", 3)
	assert.ErrorIs(t, err, ErrUnknownPlan)

	// November has 30 days: pro v1 for the ends of days 1-15, v2 for 16-30.
	p, err := ParsePeriod("2026-11")
	require.NoError(t, err)
	cut := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	segs := []PlanSegment{{Plan: "pro", From: p.Start(), To: cut}, {Plan: "pro", Version: 2, From: cut, To: p.End()}}
	l, err := NewLedger(b.Latest(), p, cut)
	require.NoError(t, err)
	_, err = l.Add(Usage{ID: "a", Meter: "calls", Quantity: decimal.NewFromInt(100), OccurredAt: cut.Add(-time.Hour)})
	require.NoError(t, err)
	_, err = l.Add(Usage{ID: "b", Meter: "calls", Quantity: decimal.NewFromInt(100), OccurredAt: cut.Add(time.Hour)})
	require.NoError(t, err)
	inv, err := Rate(b, segs, l)
	require.NoError(t, err)
	// 30 x 15/30 = 15.00 + 100 x 0.01 = 1.00; 60 x 15/30 = 30.00 + 100 x 0.02 = 2.00
	assert.Equal(t, "48.00", inv.Subtotal.StringFixed(2))

	// A catalogue alone holds version 1 only, so it cannot rate version 2.
	_, err = Rate(b.Latest(), segs, l)
	assert.ErrorIs(t, err, ErrUnknownPlan)
}

func TestCatalogPublishedRoundTrips(t *testing.T) {
	b, _ := publishAll(t, bookA)
	pub, err := (*Book)(nil).Publish(b.Latest(), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	require.NoError(t, err)
	raw, err := json.Marshal(pub)
	require.NoError(t, err)
	var back CatalogPublished
	require.NoError(t, json.Unmarshal(raw, &back))
	again, err := json.Marshal(&back)
	require.NoError(t, err)
	assert.JSONEq(t, string(raw), string(again))
	_, err = back.Catalog.Plan("pro")
	assert.NoError(t, err, "the decoded catalogue is validated and indexed")
}
