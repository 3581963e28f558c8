package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
	rmsqlite "github.com/tenantstream/tenantstream/projections/sqlite"
)

// billingCatalog prices one reported meter so every figure below is computable
// by hand: basic has 100 free calls then 0.10 each, pro 0.05 per call.
const billingCatalog = `
currency: USD
meters:
  - id: calls
    aggregation: sum
plans:
  - id: basic
    base_fee: "31.00"
    prices:
      - meter: calls
        model: graduated
        tiers:
          - {up_to: 100, unit_price: "0"}
          - {unit_price: "0.10"}
  - id: pro
    base_fee: "62.00"
    prices:
      - meter: calls
        model: per_unit
        unit_price: "0.05"
`

func writeCatalog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(path, []byte(billingCatalog), 0o644))
	return path
}

type quoteOut struct {
	Currency string `json:"currency"`
	Lines    []struct {
		Kind     string `json:"kind"`
		Meter    string `json:"meter"`
		Quantity string `json:"quantity"`
		Amount   string `json:"amount"`
	} `json:"lines"`
	Subtotal string `json:"subtotal"`
}

// TestBillingQuote prices usage without a tenant, in-process and from the built
// binary.
func TestBillingQuote(t *testing.T) {
	t.Parallel()
	cat := writeCatalog(t)
	tests := []struct {
		name     string
		args     []string
		subtotal string
		amounts  map[string]string // meter (or kind) -> amount
		code     int
		errText  string
	}{
		{"graduated over the free tier", []string{"--catalog", cat, "--plan", "basic", "--usage", "calls=150"}, "36.00",
			map[string]string{"base_fee": "31.00", "calls": "5.00"}, 0, ""},
		{"inside the free tier", []string{"--catalog", cat, "--plan", "basic", "--usage", "calls=100"}, "31.00",
			map[string]string{"base_fee": "31.00", "calls": "0.00"}, 0, ""},
		{"per unit, half away from zero", []string{"--catalog", cat, "--plan", "pro", "--usage", "calls=0.1"}, "62.01",
			map[string]string{"base_fee": "62.00", "calls": "0.01"}, 0, ""},
		{"no usage", []string{"--catalog", cat, "--plan", "pro"}, "62.00", map[string]string{"calls": "0.00"}, 0, ""},
		{"embedded catalogue", []string{"--plan", "starter", "--usage", "compute_seconds=125,api_requests=1500000"}, "29.01",
			map[string]string{"base_fee": "19.00", "api_requests": "10.00", "compute_seconds": "0.01"}, 0, ""},
		{"unknown plan", []string{"--catalog", cat, "--plan", "gold"}, "", nil, 2, "unknown plan"},
		{"unknown meter", []string{"--catalog", cat, "--plan", "pro", "--usage", "nope=1"}, "", nil, 2, "unknown meter"},
		{"not a decimal", []string{"--catalog", cat, "--plan", "pro", "--usage", "calls=1e3x"}, "", nil, 2, "not a decimal"},
		{"not meter=qty", []string{"--catalog", cat, "--plan", "pro", "--usage", "calls"}, "", nil, 2, "not meter=qty"},
		{"negative", []string{"--catalog", cat, "--plan", "pro", "--usage", "calls=-1"}, "", nil, 2, "negative"},
	}
	check := func(t *testing.T, out string, subtotal string, amounts map[string]string) {
		t.Helper()
		var q quoteOut
		require.NoError(t, json.Unmarshal([]byte(out), &q), "%s", out)
		assert.Equal(t, "USD", q.Currency)
		assert.Equal(t, subtotal, q.Subtotal)
		got := map[string]string{}
		for _, l := range q.Lines {
			k := l.Meter
			if k == "" {
				k = l.Kind
			}
			got[k] = l.Amount
			assert.Regexp(t, decimalRE, l.Quantity)
		}
		for k, v := range amounts {
			assert.Equal(t, v, got[k], k)
		}
	}

	t.Run("in-process", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, errOut, err := runCLI(t, append([]string{"billing", "quote", "--json"}, tt.args...)...)
				require.Equal(t, tt.code, exitStatus(err), "stdout %s stderr %s err %v", out, errOut, err)
				if tt.code != 0 {
					assert.ErrorContains(t, err, tt.errText)
					return
				}
				check(t, out, tt.subtotal, tt.amounts)
			})
		}
		out, _, err := runCLI(t, "billing", "quote", "--catalog", cat, "--plan", "basic", "--usage", "calls=150")
		require.NoError(t, err)
		assert.Contains(t, out, "calls, graduated")
		assert.Regexp(t, `subtotal\s+36\.00`, out)
	})

	t.Run("built binary", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "tenantstream")
		build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cmd := exec.CommandContext(t.Context(), bin, append([]string{"billing", "quote", "--json"}, tt.args...)...)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else {
					require.NoError(t, err)
				}
				require.Equal(t, tt.code, code, "stdout %s stderr %s", out, stderr.String())
				if tt.code != 0 {
					assert.Contains(t, stderr.String(), tt.errText)
					return
				}
				check(t, string(out), tt.subtotal, tt.amounts)
			})
		}
	})
}

// invoiceDoc is the API's invoice JSON, as much as these tests read.
type invoiceDoc struct {
	InvoiceID string `json:"invoice_id"`
	Number    int64  `json:"number"`
	Period    string `json:"period"`
	Segments  []struct {
		Plan string    `json:"plan"`
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	} `json:"segments"`
	Lines []struct {
		Kind           string `json:"kind"`
		Segment        int    `json:"segment"`
		Plan           string `json:"plan"`
		Meter          string `json:"meter"`
		Quantity       string `json:"quantity"`
		Amount         string `json:"amount"`
		OriginalPeriod string `json:"original_period"`
	} `json:"lines"`
	Subtotal string `json:"subtotal"`
}

// TestBillingScenarios runs the billing scenarios through a real server
// over HTTP on the test clock: late usage of a closed March appears as an
// adjustment on April's invoice and both invoices audit to a match; a plan change
// on March 11 gives prorated base fees and per-segment usage lines equal to the
// hand computation below. Then a corrupted ledgers read-model row fails the audit
// until the projection is rebuilt.
func TestBillingScenarios(t *testing.T) {
	t.Parallel()
	cat := writeCatalog(t)
	// Both tenants exist before March, so March bills all of its 31 days.
	srv := startServer(t, "", Config{TestClock: true, StartAt: time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC), CatalogFile: cat})
	type tenant struct{ name, id, token string }
	onboard := func(name string) *tenant {
		r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": acmePassword, "plan": "basic"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		tn := &tenant{name: name, id: r.JSON(t)["tenant_id"].(string)}
		tn.token, _ = srv.login(name, "admin@"+name+".test", acmePassword)
		return tn
	}
	late, change := onboard("latecomer"), onboard("switcher")
	advance := func(now string) {
		t.Helper()
		r := srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": now})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		for _, tn := range []*tenant{late, change} { // tokens are checked against the test clock
			tn.token, _ = srv.login(tn.name, "admin@"+tn.name+".test", acmePassword)
		}
	}
	usage := func(tn *tenant, id, qty, ts string) {
		t.Helper()
		r := srv.do(http.MethodPost, "/tenants/"+tn.id+"/usage", tn.token, map[string]any{"events": []map[string]string{{"id": id, "meter": "calls", "quantity": qty, "timestamp": ts}}})
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	}
	invoice := func(tn *tenant, period string) invoiceDoc {
		t.Helper()
		srv.settle()
		r := srv.do(http.MethodGet, "/billing/"+tn.id+"/invoices", tn.token, nil)
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
		t.Fatalf("%s has no invoice for %s: %s", tn.name, period, r.Body)
		return invoiceDoc{}
	}
	audit := func(tn *tenant, period string) (map[string]any, int) {
		t.Helper()
		out, errOut, err := runCLI(t, "billing", "audit", "--tenant", tn.id, "--period", period, "--json", "--data", srv.Data, "--catalog", cat)
		var rep map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &rep), "audit output %q, stderr %q, err %v", out, errOut, err)
		return rep, exitStatus(err)
	}

	advance("2026-03-05T09:00:00Z")
	usage(late, "l-1", "150", "2026-03-05T09:00:00Z")
	usage(change, "c-1", "120", "2026-03-05T09:00:00Z")
	advance("2026-03-11T12:00:00Z")
	r := srv.do(http.MethodPut, "/tenants/"+change.id+"/plan", change.token, map[string]string{"plan": "pro"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	advance("2026-03-20T09:00:00Z")
	usage(change, "c-2", "30", "2026-03-20T09:00:00Z")
	advance("2026-04-01T01:30:00Z") // closes March

	t.Run("plan change mid-period", func(t *testing.T) {
		inv := invoice(change, "2026-03")
		require.Len(t, inv.Segments, 2)
		assert.Equal(t, "basic", inv.Segments[0].Plan)
		assert.Equal(t, "pro", inv.Segments[1].Plan)
		assert.Equal(t, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), inv.Segments[0].From.UTC())
		assert.WithinDuration(t, time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC), inv.Segments[1].From, time.Minute)
		// By hand: a day is billed to the plan in force at its end (24:00 UTC).
		// basic holds March 1-10 (10 days), pro March 11-31 (21 days).
		//   basic base fee 31.00 * 10/31 = 10.00; 120 calls, 100 free, 20 * 0.10 = 2.00
		//   pro base fee   62.00 * 21/31 = 42.00; 30 calls * 0.05 = 1.50
		//   subtotal 55.50
		type line struct{ kind, plan, meter, qty, amount string }
		var got []line
		for _, l := range inv.Lines {
			got = append(got, line{l.Kind, l.Plan, l.Meter, l.Quantity, l.Amount})
		}
		assert.Equal(t, []line{
			{"base_fee", "basic", "", "10", "10.00"},
			{"usage", "basic", "calls", "120", "2.00"},
			{"base_fee", "pro", "", "21", "42.00"},
			{"usage", "pro", "calls", "30", "1.50"},
		}, got)
		assert.Equal(t, "55.50", inv.Subtotal)
		rep, code := audit(change, "2026-03")
		assert.Equal(t, 0, code, "%v", rep)
	})

	// Late usage: recorded on April 5th with a March timestamp, after March closed.
	march := invoice(late, "2026-03")
	assert.Equal(t, "36.00", march.Subtotal, "31.00 base + 50 calls over 100 at 0.10")
	advance("2026-04-05T10:00:00Z")
	usage(late, "l-2-late", "40", "2026-03-30T12:00:00Z")
	advance("2026-05-01T01:30:00Z") // closes April

	t.Run("late usage", func(t *testing.T) {
		assert.Equal(t, march, invoice(late, "2026-03"), "the issued March invoice never changes")
		april := invoice(late, "2026-04")
		assert.Equal(t, march.Number+1, april.Number)
		var adj []string
		for _, l := range april.Lines {
			if l.Kind == "adjustment" {
				adj = append(adj, strings.Join([]string{l.OriginalPeriod, l.Meter, l.Quantity, l.Amount}, " "))
			}
		}
		assert.Equal(t, []string{"2026-03 calls 40 4.00"}, adj)
		assert.Equal(t, "35.00", april.Subtotal, "31.00 base, no April calls, 4.00 for March's late 40 calls")
		for _, p := range []string{"2026-03", "2026-04"} {
			rep, code := audit(late, p)
			assert.Equal(t, 0, code, "%s: %v", p, rep)
			assert.Equal(t, true, rep["match"])
		}
		rep, _ := audit(late, "2026-04")
		assert.NotEmpty(t, rep["late"], "the April invoice names the late usage it billed")
	})

	t.Run("corrupted ledger read model", func(t *testing.T) {
		srv.Stop() // a rebuild needs the data directory to itself
		ctx := t.Context()
		p, _ := billing.ParsePeriod("2026-03")
		rm, err := rmsqlite.Open(ctx, filepath.Join(srv.Data, "readmodels.db"))
		require.NoError(t, err)
		tx, err := rm.Begin(ctx)
		require.NoError(t, err)
		gen, err := tx.ActiveGeneration(ctx, projections.LedgersProjection, events.TenantID(late.id))
		require.NoError(t, err)
		model := tx.ReadModel(projections.LedgersProjection, gen)
		key := projections.LedgerMeterKey(p, "calls")
		raw, err := model.Get(ctx, events.TenantID(late.id), projections.LedgerMetersCollection, key)
		require.NoError(t, err)
		var row projections.LedgerMeter
		require.NoError(t, json.Unmarshal(raw, &row))
		assert.Equal(t, "190", row.Sum, "150 on time + 40 late")
		row.Sum = "189"
		raw, err = json.Marshal(row)
		require.NoError(t, err)
		require.NoError(t, model.Put(ctx, events.TenantID(late.id), projections.LedgerMetersCollection, key, raw))
		require.NoError(t, tx.Commit())
		require.NoError(t, rm.Close())

		rep, code := audit(late, "2026-03")
		assert.Equal(t, 1, code)
		var bad []string
		for _, c := range rep["checks"].([]any) {
			c := c.(map[string]any)
			if c["match"] != true {
				bad = append(bad, c["key"].(string)+" "+c["store"].(string)+" "+c["found"].(string))
			}
		}
		assert.Equal(t, []string{"ledger read model 2026-03 calls 190 189"}, bad)
		out, _, err := runCLI(t, "billing", "audit", "--tenant", late.id, "--period", "2026-03", "--data", srv.Data, "--catalog", cat)
		assert.Equal(t, 1, exitStatus(err))
		assert.Regexp(t, `ledger read model 2026-03 calls\s+190\s+189\s+DIFFERS`, out)

		out, errOut, err := runCLI(t, "projections", "rebuild", "ledgers", "--data", srv.Data)
		require.NoError(t, err, "stderr %s", errOut)
		assert.Contains(t, out, "rebuilt ledgers")
		rep, code = audit(late, "2026-03")
		assert.Equal(t, 0, code, "%v", rep)
	})
}
