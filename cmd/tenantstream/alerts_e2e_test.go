package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/handlers/notify"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

const alertsE2ECatalog = `currency: USD
meters:
  - id: compute_seconds
    aggregation: sum
plans:
  - id: metered
    base_fee: "0"
    prices:
      - {meter: compute_seconds, model: per_unit, unit_price: "0.01"}
    features:
      compute_seconds: {limit: 1000, on_exceed: notify}
    alerts:
      - {percent_of_limit: 10}
`

// TestAlertsEndToEnd: over HTTP, a plan default and a tenant's thresholds
// fire as signed webhooks and audit-log entries once each; the spend cap
// refuses a report with the spend-caps problem and a raised cap lifts it.
func TestAlertsEndToEnd(t *testing.T) {
	const secret = "whsec-alerts"
	var mu sync.Mutex
	got := map[string][]map[string]any{} // type -> notifications
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(secret), r.Header.Get("Tenantstream-Signature"), body, time.Now(), time.Hour); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var n map[string]any
		_ = json.Unmarshal(body, &n)
		mu.Lock()
		typ, _ := n["type"].(string)
		got[typ] = append(got[typ], n)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	cat := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(cat, []byte(alertsE2ECatalog), 0o644))
	srv := startServer(t, "", Config{TestClock: true, CatalogFile: cat, StartAt: time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC),
		Webhooks: []string{rcv.URL}, WebhookSecret: secret})
	r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "acme", "email": "admin@acme.test", "password": acmePassword, "plan": "metered"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	tid := r.JSON(t)["tenant_id"].(string)
	tok, _ := srv.login("acme", "admin@acme.test", acmePassword)
	base := "/tenants/" + tid
	usage := func(id, qty string) response {
		return srv.do(http.MethodPost, base+"/usage", tok, map[string]any{"events": []map[string]any{
			{"id": id, "meter": "compute_seconds", "quantity": qty, "timestamp": srv.App.Clock.Now().UTC().Format(time.RFC3339)}}})
	}
	alerts := func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), got["usage.threshold_reached"]...)
	}

	r = srv.do(http.MethodGet, base+"/alerts", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, "plan", r.JSON(t)["source"])
	require.Equal(t, http.StatusAccepted, usage("u1", "150").Status)
	require.Eventually(t, func() bool { return len(alerts()) == 1 }, 10*time.Second, 20*time.Millisecond, "the plan's 10%% of 1000")
	data := alerts()[0]["data"].(map[string]any)
	assert.Equal(t, "p-compute_seconds-10", data["threshold_id"])
	assert.Equal(t, "plan", data["source"])
	assert.Equal(t, tid, alerts()[0]["tenant_id"])

	// The tenant's own thresholds replace the plan's; a cap of 2.00.
	r = srv.do(http.MethodPut, base+"/alerts", tok, `{"thresholds":[{"meter":"compute_seconds","quantity":"160"},{"subtotal":"1.70"}],"spend_cap":"2.00"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, http.StatusAccepted, usage("u2", "20").Status) // 170: both reached
	require.Eventually(t, func() bool { return len(alerts()) == 3 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, http.StatusAccepted, usage("u2", "20").Status, "a retry")

	r = usage("u3", "31") // 2.01 > 2.00
	require.Equal(t, http.StatusPaymentRequired, r.Status, "%s", r.Body)
	assert.Equal(t, problem.ContentType, r.Header.Get("Content-Type"))
	p := r.JSON(t)
	assert.Equal(t, commands.SpendCapProblemType, p["type"])
	assert.Equal(t, "limit_exceeded", p["code"])
	assert.Equal(t, "2", p["spend_cap"])
	assert.Equal(t, "1.7", p["subtotal"])
	assert.Equal(t, "2.01", p["subtotal_after"])
	require.Equal(t, http.StatusAccepted, usage("u3", "30").Status, "exactly the cap is admitted")
	r = srv.do(http.MethodPut, base+"/alerts", tok, `{"thresholds":[{"meter":"compute_seconds","quantity":"160"},{"subtotal":"1.70"}],"spend_cap":"5.00"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, http.StatusAccepted, usage("u4", "31").Status, "the raised cap lifts it at once")

	srv.settle()
	time.Sleep(100 * time.Millisecond) // a few deliver intervals: nothing more may arrive
	assert.Len(t, alerts(), 3, "each threshold once")
	r = srv.do(http.MethodGet, base+"/audit-log?limit=1000", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var page commands.AuditPage
	r.Decode(t, &page)
	actions := map[string]int{}
	for _, e := range page.Entries {
		actions[e.Action]++
	}
	assert.Equal(t, 3, actions["usage.threshold_reached"])
	assert.Equal(t, 2, actions["alerts.configured"])
}
