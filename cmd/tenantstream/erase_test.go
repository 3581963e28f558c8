package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/projections"
)

// eraseCatalog prices a unique_count meter, so the audit after erasure has to
// count property values it can no longer read.
const eraseCatalog = `
currency: USD
meters:
  - id: seats
    aggregation: unique_count
    property: user
plans:
  - id: team
    base_fee: "10.00"
    prices:
      - meter: seats
        model: per_unit
        unit_price: "1.00"
`

// markers are the plaintext a tenant puts into the platform: an item's data,
// a member's email (and the admin's), usage property values. Each is plain
// alphanumerics, so it appears as is wherever it is stored in clear.
type markers struct{ item, adminEmail, memberEmail, prop1, prop2 string }

func markersOf(name string) markers {
	return markers{item: "itemdata" + name + "Q7W", adminEmail: "admin@" + name + ".test", memberEmail: "member" + name + "@" + name + ".test",
		prop1: "seatuser" + name + "ZQX1", prop2: "seatuser" + name + "ZQX2"}
}

func (m markers) all() []string {
	return []string{m.item, m.adminEmail, m.memberEmail, m.prop1, m.prop2}
}

// filesHolding returns, per marker, the files of dir (recursively: the SQLite
// files with their -wal and -shm, keys, notifications) that contain it.
func filesHolding(t *testing.T, dir string, ms []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() || d.Type()&os.ModeSocket != 0 {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		for _, m := range ms {
			if bytes.Contains(b, []byte(m)) {
				out[m] = append(out[m], rel)
			}
		}
		return nil
	}))
	return out
}

// Acceptance 2: after erasure no plaintext of the tenant's items, emails or
// usage properties is left in the data directory, the audit of each of its
// issued invoices matches, and a projection rebuild succeeds and shows the
// tenant erased; another tenant keeps everything.
func TestEraseTenant(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(cat, []byte(eraseCatalog), 0o600))
	srv := startServer(t, "", Config{TestClock: true, StartAt: time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC), CatalogFile: cat})
	type tenant struct {
		name, id, token string
		m               markers
	}
	onboard := func(name string) *tenant {
		tn := &tenant{name: name, m: markersOf(name)}
		r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": tn.m.adminEmail, "password": acmePassword, "plan": "team"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		tn.id = r.JSON(t)["tenant_id"].(string)
		tn.token, _ = srv.login(name, tn.m.adminEmail, acmePassword)
		r = srv.do(http.MethodPut, "/tenants/"+tn.id+"/data/doc-1", tn.token, map[string]string{"note": tn.m.item})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r = srv.do(http.MethodPost, "/tenants/"+tn.id+"/users", tn.token, map[string]string{"email": tn.m.memberEmail, "password": acmePassword})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		return tn
	}
	gone, kept := onboard("shredco"), onboard("keepco")
	r := srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-03-05T09:00:00Z"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	for _, tn := range []*tenant{gone, kept} {
		tn.token, _ = srv.login(tn.name, tn.m.adminEmail, acmePassword)
		recs := []map[string]any{}
		for i, v := range []string{tn.m.prop1, tn.m.prop2, tn.m.prop1} {
			recs = append(recs, map[string]any{"id": "s-" + string(rune('a'+i)), "meter": "seats", "quantity": "1", "timestamp": "2026-03-05T09:00:00Z",
				"properties": map[string]string{"user": v}})
		}
		r := srv.do(http.MethodPost, "/tenants/"+tn.id+"/usage", tn.token, map[string]any{"events": recs})
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	}
	// April 1st, past the grace hour: March (and February) are invoiced.
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-04-01T02:00:00Z"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	srv.settle()
	gone.token, _ = srv.login(gone.name, gone.m.adminEmail, acmePassword)
	r = srv.do(http.MethodGet, "/billing/"+gone.id+"/invoices", gone.token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var list struct {
		Invoices []invoiceDoc `json:"invoices"`
	}
	r.Decode(t, &list)
	var march invoiceDoc
	for _, inv := range list.Invoices {
		if inv.Period == "2026-03" {
			march = inv
		}
	}
	require.Equal(t, "2026-03", march.Period, "%s", r.Body)
	r = srv.do(http.MethodGet, "/tenants/"+gone.id+"/users", gone.token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), gone.m.memberEmail, "the sealed email opens before erasure")
	srv.Stop()

	// Before: the event store never holds the plaintext (it is sealed), but the
	// read models and notifications hold all but the member's email (which
	// only the sealed events hold), so the grep below can fail.
	before := filesHolding(t, srv.Data, append(gone.m.all(), kept.m.all()...))
	for _, m := range append(gone.m.all(), kept.m.all()...) {
		if m != gone.m.memberEmail && m != kept.m.memberEmail {
			assert.NotEmpty(t, before[m], "%s is stored somewhere before erasure", m)
		}
		for _, f := range before[m] {
			assert.False(t, strings.HasPrefix(f, "events.db"), "%s in clear in %s", m, f)
		}
	}

	_, _, err := runCLI(t, "tenants", "erase", "--tenant", gone.id, "--confirm", kept.id, "--data", srv.Data)
	assert.Equal(t, 2, exitStatus(err), "a wrong confirmation is a usage error")
	out, errOut, err := runCLI(t, "tenants", "erase", "--tenant", gone.id, "--confirm", gone.id, "--data", srv.Data)
	require.NoError(t, err, "stdout %s stderr %s", out, errOut)
	assert.Contains(t, out, "tenant "+gone.id+" erased at")
	assert.Contains(t, out, "read models rebuilt: ")

	after := filesHolding(t, srv.Data, append(gone.m.all(), kept.m.all()...))
	for _, m := range gone.m.all() {
		assert.Empty(t, after[m], "%s of the erased tenant is still in the data directory", m)
	}
	for _, m := range kept.m.all() {
		if m != kept.m.memberEmail {
			assert.NotEmpty(t, after[m], "%s of the other tenant is kept", m)
		}
	}

	// Every issued invoice of the erased tenant still audits.
	for _, period := range []string{"2026-02", "2026-03"} {
		out, errOut, err := runCLI(t, "billing", "audit", "--tenant", gone.id, "--period", period, "--json", "--data", srv.Data)
		require.NoError(t, err, "audit %s: %s %s", period, out, errOut)
		var rep map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
		assert.Equal(t, true, rep["match"], "audit %s: %s", period, out)
	}
	seats := ""
	for _, l := range march.Lines {
		if l.Meter == "seats" {
			seats = l.Quantity
		}
	}
	assert.Equal(t, "2", seats, "two distinct seats were billed")

	// Erasing again is harmless; a rebuild of everything succeeds.
	out, _, err = runCLI(t, "tenants", "erase", "--tenant", gone.id, "--confirm", gone.id, "--data", srv.Data)
	require.NoError(t, err)
	assert.Contains(t, out, "already erased")
	_, errOut, err = runCLI(t, "projections", "rebuild", "--all", "--data", srv.Data)
	require.NoError(t, err, errOut)

	// The server starts on the directory; the directory shows the tenant erased,
	// which can no longer log in, while the other tenant works as before.
	srv2 := startServer(t, srv.Data, Config{TestClock: true, CatalogFile: cat})
	srv2.settle()
	raw, err := srv2.App.Reader.Get(t.Context(), projections.TenantsProjection, projections.PlatformTenant, projections.TenantsCollection, gone.id)
	require.NoError(t, err)
	var row projections.TenantSummary
	require.NoError(t, json.Unmarshal(raw, &row))
	assert.Equal(t, projections.TenantErased, row.Status)
	raw, err = srv2.App.Reader.Get(t.Context(), projections.TenantsProjection, projections.PlatformTenant, projections.TenantsCollection, kept.id)
	require.NoError(t, err)
	var keptRow projections.TenantSummary
	require.NoError(t, json.Unmarshal(raw, &keptRow))
	assert.Empty(t, keptRow.Status)

	r = srv2.do(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": gone.name, "email": gone.m.adminEmail, "password": acmePassword})
	assert.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	kept.token, _ = srv2.login(kept.name, kept.m.adminEmail, acmePassword)
	r = srv2.do(http.MethodGet, "/tenants/"+kept.id+"/data/doc-1", kept.token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), kept.m.item)
	r = srv2.do(http.MethodGet, "/tenants/"+kept.id+"/users", kept.token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), kept.m.memberEmail, "the other tenant's sealed emails still open")
}
