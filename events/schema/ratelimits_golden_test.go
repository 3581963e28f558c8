package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
)

// A catalogue published with rate limits (docs/billing.md, "Rate limits") is
// stored in the canonical form a golden file pins: classes in order, every
// limit with its burst. The sample of TestGoldenPayloads keeps the form of a
// catalogue without them, which must not change either.
func TestCatalogPublishedWithRateLimitsGolden(t *testing.T) {
	cat, err := billing.ParseCatalog([]byte(`{"currency":"USD","plans":[
	  {"id":"free","base_fee":"0","rate_limits":{"write":{"rate":20,"per":"1s","burst":50},"read":{"rate":50,"per":"1s","burst":100},"usage":{"rate":300,"per":"1m"}}},
	  {"id":"pro","base_fee":"99","rate_limits":{"default":{"rate":2000,"per":"1s","burst":4000}}}]}`))
	require.NoError(t, err)
	payload := &billing.CatalogPublished{Catalog: cat, Created: []billing.PlanRef{{Plan: "free", Version: 2}, {Plan: "pro", Version: 2}}, At: at}
	ne, err := Registry.New(payload)
	require.NoError(t, err)
	var pretty json.RawMessage
	require.NoError(t, json.Unmarshal(ne.Data, &pretty))
	got, err := json.MarshalIndent(pretty, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", billing.TypeCatalogPublished+".rate_limits.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./events/schema -update to create it")
	assert.JSONEq(t, string(want), string(got), "the stored form of rate limits changed: add a new schema version and an upcaster instead")

	back, err := Registry.Decode(events.Event{Type: billing.TypeCatalogPublished, SchemaVersion: ne.SchemaVersion, Data: want})
	require.NoError(t, err)
	pub, ok := back.(*billing.CatalogPublished)
	require.True(t, ok)
	free, err := pub.Catalog.Plan("free")
	require.NoError(t, err)
	usage, ok := free.RateLimits.For(billing.ClassUsage)
	require.True(t, ok)
	assert.Equal(t, billing.RateLimit{Rate: 300, Per: "1m", Burst: 300}, usage)
}
