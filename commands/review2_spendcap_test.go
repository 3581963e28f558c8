package commands_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
)

// FINDING: the spend cap check of a usage report (admitUsageUnder ->
// subtotalsWith) rates the fold without the item writes this process admitted
// and has not flushed, while the item-write check counts them. Item writes
// that took the subtotal exactly to the cap therefore let a priced usage
// report pass it until the Meter flushes (up to 5 s; per request on AWS).
func TestReview2UsageSpendCapCountsUnflushedItemWrites(t *testing.T) {
	f := newAlertFix(t, "metered", time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	_, err := f.configure(f.svc, f.admin, str("0.50"))
	require.NoError(t, err)
	// 2 included + 5 at 0.10: the subtotal is the cap, 0.50.
	for i := range 7 {
		_, err := f.svc.PutItem(f.ctx, f.admin, commands.PutItem{Tenant: f.tid, ItemID: fmt.Sprintf("i%d", i), Data: json.RawMessage(`{}`)})
		require.NoError(t, err)
	}
	_, err = f.svc.PutItem(f.ctx, f.admin, commands.PutItem{Tenant: f.tid, ItemID: "one-more", Data: json.RawMessage(`{}`)})
	require.Error(t, err, "the item-write check sees the cap reached")
	// No flush: a report of 10 calls at 0.01 takes the subtotal to 0.60.
	err = f.usage(f.svc, rec("c1", "calls", "10", f.clk.Now()))
	require.Error(t, err, "a usage report past the spend cap must be refused")
	require.NoError(t, f.svc.Meter.Flush(f.ctx))
	t.Logf("subtotal after the flush: %s (cap 0.50)", f.subtotal())
}
