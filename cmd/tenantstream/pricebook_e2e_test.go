package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The price book end to end, as a finance team would meet it (docs/billing.md,
// "Plan versions"): serve with catalogue A; a tenant on basic is invoiced;
// publish catalogue B, which doubles basic's base fee; the old invoice audits
// from the store alone (no --catalog); a tenant onboarded after B pays B's
// price; the first tenant pays A's until migrated and B's after, prorated by
// the day-end rule; every invoice audits.
func TestPriceBookEndToEnd(t *testing.T) {
	data := t.TempDir()
	catA := writeCatalog(t)
	catB := filepath.Join(t.TempDir(), "catalog-b.yaml")
	require.NoError(t, os.WriteFile(catB, []byte(strings.Replace(billingCatalog, `base_fee: "31.00"`, `base_fee: "62.00"`, 1)), 0o644))

	type tenant struct{ name, id string }
	serve := func(cfg Config) *testServer {
		cfg.TestClock = true
		return startServer(t, data, cfg)
	}
	advance := func(srv *testServer, now string) {
		t.Helper()
		r := srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": now})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}
	onboard := func(srv *testServer, name string) tenant {
		t.Helper()
		r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": acmePassword, "plan": "basic"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		return tenant{name: name, id: r.JSON(t)["tenant_id"].(string)}
	}
	invoice := func(srv *testServer, tn tenant, period string) invoiceDoc {
		t.Helper()
		srv.settle()
		token, _ := srv.login(tn.name, "admin@"+tn.name+".test", acmePassword)
		r := srv.do(http.MethodGet, "/billing/"+tn.id+"/invoices", token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var list struct {
			Invoices []invoiceDoc `json:"invoices"`
		}
		r.Decode(t, &list)
		for _, inv := range list.Invoices {
			if inv.Period == period {
				return inv
			}
		}
		t.Fatalf("no %s invoice for %s", period, tn.name)
		return invoiceDoc{}
	}
	audit := func(tn tenant, period string) {
		t.Helper()
		out, _, err := runCLI(t, "billing", "audit", "--data", data, "--tenant", tn.id, "--period", period)
		require.NoError(t, err, "%s", out)
		assert.Contains(t, out, ": MATCH")
	}

	srv := serve(Config{StartAt: time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC), CatalogFile: catA})
	early := onboard(srv, "early")
	advance(srv, "2026-04-01T01:30:00Z") // closes March
	assert.Equal(t, "31.00", invoice(srv, early, "2026-03").Subtotal, "catalogue A: basic at 31.00")
	srv.Stop()

	out, _, err := runCLI(t, "catalog", "publish", catB, "--data", data)
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, "published as catalogue version 2")
	assert.Contains(t, out, "basic v2")
	out, _, err = runCLI(t, "catalog", "publish", catB, "--data", data)
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, "nothing changed")
	audit(early, "2026-03") // rated under A, audited from the store, no --catalog

	srv = serve(Config{}) // no --catalog: the book keeps B
	late := onboard(srv, "late")
	advance(srv, "2026-04-16T12:00:00Z")
	srv.Stop()
	out, _, err = runCLI(t, "tenants", "migrate", "--data", data, "--tenant", early.id, "--plan", "basic")
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, "basic v2")

	srv = serve(Config{})
	advance(srv, "2026-05-01T01:30:00Z") // closes April
	// late: onboarded on B on 1 April, every April day at 62.00.
	assert.Equal(t, "62.00", invoice(srv, late, "2026-04").Subtotal)
	// early: basic v1 holds the ends of 1-15 April (31.00 x 15/30 = 15.50),
	// v2 those of 16-30 April (62.00 x 15/30 = 31.00).
	inv := invoice(srv, early, "2026-04")
	assert.Equal(t, "46.50", inv.Subtotal)
	srv.Stop()
	audit(early, "2026-03")
	audit(early, "2026-04")
	audit(late, "2026-04")

	out, _, err = runCLI(t, "catalog", "history", "--data", data)
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, "basic v1")
	assert.Contains(t, out, "basic v2")
}
