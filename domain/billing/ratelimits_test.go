package billing

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rateLimitCatalog(limits string) string {
	return fmt.Sprintf(`{"currency":"USD","plans":[{"id":"free"},{"id":"paid","rate_limits":%s}]}`, limits)
}

func TestRateLimitsParseAndFallBackToDefault(t *testing.T) {
	t.Parallel()
	c, err := ParseCatalog([]byte(rateLimitCatalog(`{"default":{"rate":10,"per":"1s","burst":20},"usage":{"rate":60,"per":"1m"}}`)))
	require.NoError(t, err)
	paid, err := c.Plan("paid")
	require.NoError(t, err)
	for _, tc := range []struct {
		class RouteClass
		want  RateLimit
	}{
		{ClassRead, RateLimit{Rate: 10, Per: "1s", Burst: 20}},
		{ClassWrite, RateLimit{Rate: 10, Per: "1s", Burst: 20}},
		{ClassUsage, RateLimit{Rate: 60, Per: "1m", Burst: 60}}, // burst defaults to the rate
	} {
		got, ok := paid.RateLimits.For(tc.class)
		require.True(t, ok, tc.class)
		assert.Equal(t, tc.want, got, tc.class)
	}
	usage, _ := paid.RateLimits.For(ClassUsage)
	assert.Equal(t, time.Second, usage.Interval())
	assert.Equal(t, 100*time.Millisecond, RateLimit{Rate: 10, Per: "1s"}.Interval())

	free, err := c.Plan("free")
	require.NoError(t, err)
	_, ok := free.RateLimits.For(ClassRead)
	assert.False(t, ok, "a plan without rate_limits is not limited")

	only, err := ParseCatalog([]byte(rateLimitCatalog(`{"write":{"rate":1,"per":"1s"}}`)))
	require.NoError(t, err)
	p, _ := only.Plan("paid")
	_, ok = p.RateLimits.For(ClassRead)
	assert.False(t, ok, "no default: a class not listed is not limited")
}

// The canonical JSON names one limit one way (burst filled in, classes
// sorted), so writing the burst out is no new plan version, and changing a
// limit is.
func TestRateLimitsCanonicalJSONMakesPlanVersions(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	parse := func(limits string) *Catalog {
		c, err := ParseCatalog([]byte(rateLimitCatalog(limits)))
		require.NoError(t, err)
		return c
	}
	book, err := (*Book)(nil).With()
	require.NoError(t, err)
	pub, err := book.Publish(parse(`{"write":{"rate":5,"per":"1s"},"read":{"rate":20,"per":"1s","burst":40}}`), at)
	require.NoError(t, err)
	book, err = book.With(pub)
	require.NoError(t, err)

	same, err := book.Publish(parse(`{"read":{"burst":40,"per":"1s","rate":20},"write":{"rate":5,"per":"1s","burst":5}}`), at)
	require.NoError(t, err)
	assert.Nil(t, same, "the same limits written another way publish nothing")

	changed, err := book.Publish(parse(`{"write":{"rate":50,"per":"1s"},"read":{"rate":20,"per":"1s","burst":40}}`), at)
	require.NoError(t, err)
	require.NotNil(t, changed)
	assert.Equal(t, []PlanRef{{Plan: "paid", Version: 2}}, changed.Created, "a changed limit is a new version of that plan only")

	// The stored event reads back to the same limits.
	b, err := json.Marshal(changed)
	require.NoError(t, err)
	var back CatalogPublished
	require.NoError(t, json.Unmarshal(b, &back))
	p, err := back.Catalog.Plan("paid")
	require.NoError(t, err)
	w, _ := p.RateLimits.For(ClassWrite)
	assert.Equal(t, RateLimit{Rate: 50, Per: "1s", Burst: 50}, w)
	pj, err := json.Marshal(p.RateLimits)
	require.NoError(t, err)
	assert.JSONEq(t, `{"read":{"rate":20,"per":"1s","burst":40},"write":{"rate":50,"per":"1s","burst":50}}`, string(pj))
}

func TestRateLimitsErrorsNameThePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, limits, path string
	}{
		{"unknown class", `{"reads":{"rate":1,"per":"1s"}}`, "plans[1].rate_limits.reads"},
		{"unknown field", `{"read":{"rate":1,"per":"1s","brust":2}}`, "plans[1].rate_limits.read"},
		{"fractional rate", `{"read":{"rate":1.5,"per":"1s"}}`, "plans[1].rate_limits.read.rate"},
		{"string rate", `{"read":{"rate":"10","per":"1s"}}`, "plans[1].rate_limits.read.rate"},
		{"zero rate", `{"write":{"rate":0,"per":"1s"}}`, "plans[1].rate_limits.write.rate"},
		{"huge rate", `{"write":{"rate":1000001,"per":"1s"}}`, "plans[1].rate_limits.write.rate"},
		{"negative burst", `{"usage":{"rate":1,"per":"1s","burst":-1}}`, "plans[1].rate_limits.usage.burst"},
		{"bad period", `{"default":{"rate":1,"per":"2s"}}`, "plans[1].rate_limits.default.per"},
		{"missing period", `{"default":{"rate":1}}`, "plans[1].rate_limits.default.per"},
		{"numeric period", `{"default":{"rate":1,"per":1}}`, "plans[1].rate_limits.default.per"},
		{"not an object", `{"read":[1]}`, "plans[1].rate_limits.read"},
		{"empty", `{}`, "plans[1].rate_limits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCatalog([]byte(rateLimitCatalog(tc.limits)))
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalidCatalog)
			assert.Contains(t, err.Error(), tc.path+": ", "the error names the path")
		})
	}
	_, err := ParseCatalog([]byte(rateLimitCatalog(`[1,2]`)))
	require.ErrorIs(t, err, ErrInvalidCatalog, "rate_limits must be an object")
	assert.Contains(t, err.Error(), "rate_limits")
}

func TestRateLimitExceeds(t *testing.T) {
	t.Parallel()
	slow := RateLimit{Rate: 5, Per: "1s", Burst: 10}
	assert.True(t, RateLimit{Rate: 50, Per: "1s", Burst: 10}.Exceeds(slow))
	assert.True(t, RateLimit{Rate: 5, Per: "1s", Burst: 20}.Exceeds(slow))
	assert.False(t, RateLimit{Rate: 60, Per: "1m", Burst: 100}.Exceeds(slow), "1 a second is less than 5, whatever the burst")
	assert.False(t, slow.Exceeds(slow))
}
