package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found by review: a data directory whose saved test clock is behind the wall clock
// (a simulation of the past, then `serve` without --test-clock) runs the
// server on the wall clock, but test-clock.json is neither updated nor
// removed, and every operator command (Config.Operator: billing close with
// the server stopped, tenants migrate, catalog publish, notifications resend)
// keeps running on the stale saved clock, ahead or behind. The directory then
// has two business clocks: the server dates events "now", the operator tools
// date theirs months earlier. Impact: `billing close --period <last month>`
// on the stopped server refuses ("can be closed from" a date in the tools'
// future); `tenants migrate` at the tools' "now" is before the tenant's last
// plan change and is refused, or, given --at, checks invoices only up to the
// stale now; `catalog publish` stamps publications in the past. Expected:
// for one directory, serve and the operator tools agree on the clock.
func TestOperatorToolsFollowTheServerOffTheTestClock(t *testing.T) {
	dir := t.TempDir()
	behind := time.Now().Add(-90 * 24 * time.Hour)
	require.NoError(t, saveTestClock(dir, behind))

	server, tc, err := dataDirClock(dir, false, false, time.Time{}) // serve, no --test-clock
	require.NoError(t, err)
	require.Nil(t, tc)
	tools, _, err := dataDirClock(dir, false, true, time.Time{}) // billing close, tenants migrate, ...
	require.NoError(t, err)

	assert.WithinDuration(t, server.Now(), tools.Now(), time.Minute,
		"serve runs on the wall clock (%s) while the operator tools run on the stale saved test clock (%s)",
		server.Now().UTC().Format(time.RFC3339), tools.Now().UTC().Format(time.RFC3339))
}
