package main

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// Credits end to end, as an operator and a tenant meet them (docs/billing.md,
// "Credits"): the operator grants from the CLI (the server stopped), refused in
// another currency or with too many digits; March's invoice applies the credit
// (31.00 - 10.00 = 21.00); the tenant reads its balance and ledger, 40 times at
// once; no route grants; the audit matches; voiding a used grant is refused.
func TestCreditsEndToEnd(t *testing.T) {
	data := t.TempDir()
	cat := writeCatalog(t)
	srv := startServer(t, data, Config{TestClock: true, StartAt: time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC), CatalogFile: cat})
	r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "prepaid", "email": "admin@prepaid.test", "password": acmePassword, "plan": "basic"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	tid := r.JSON(t)["tenant_id"].(string)
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-03-01T09:00:00Z"}) // kept in the data directory
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	srv.Stop()

	grant := []string{"billing", "credits", "grant", "--data", data, "--tenant", tid, "--priority", "1", "--expires", "2027-01-01", "--kind", "promotional", "--reason", "welcome"}
	_, _, err := runCLI(t, append(grant, "--amount", "10.00", "--currency", "EUR")...)
	require.Error(t, err, "another currency")
	assert.Contains(t, err.Error(), "currency")
	_, _, err = runCLI(t, append(grant, "--amount", "10.001")...)
	require.Error(t, err, "more digits than USD has")
	_, _, err = runCLI(t, append(grant[:len(grant)-6:len(grant)-6], "--expires", "soon", "--kind", "promotional", "--reason", "r", "--amount", "1.00")...)
	require.Error(t, err)
	assert.Equal(t, 2, exitStatus(err), "a malformed flag is a usage error")
	out, _, err := runCLI(t, append(grant, "--amount", "10.00")...)
	require.NoError(t, err, "%s", out)
	grantID := regexp.MustCompile(`granted (cr_[0-9a-f-]+) 10\.00 USD`).FindStringSubmatch(out)
	require.Len(t, grantID, 2, "%s", out)

	srv = startServer(t, data, Config{TestClock: true, CatalogFile: cat})
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-04-01T01:30:00Z"}) // closes March
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	srv.settle()
	token, _ := srv.login("prepaid", "admin@prepaid.test", acmePassword)
	r = srv.do(http.MethodGet, "/billing/"+tid+"/invoices", token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var list struct {
		Invoices []struct {
			Subtotal string `json:"subtotal"`
			Lines    []struct {
				Kind    string `json:"kind"`
				Grant   string `json:"grant_id"`
				Amount  string `json:"amount"`
				Segment int    `json:"segment"`
			} `json:"lines"`
		} `json:"invoices"`
	}
	r.Decode(t, &list)
	require.Len(t, list.Invoices, 2, "February (closed before the grant) and March")
	assert.Equal(t, "2.21", list.Invoices[0].Subtotal, "February pays in full: the credit is effective from 1 March")
	mar := list.Invoices[1]
	assert.Equal(t, "21.00", mar.Subtotal, "31.00 - 10.00")
	last := mar.Lines[len(mar.Lines)-1]
	assert.Equal(t, "credit", last.Kind)
	assert.Equal(t, grantID[1], last.Grant)
	assert.Equal(t, "-10.00", last.Amount)

	path := "/billing/" + tid + "/credits"
	first := srv.do(http.MethodGet, path, token, nil)
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	var view struct {
		Balances []struct{ Currency, Available, Scheduled string } `json:"balances"`
		Ledger   []struct {
			Type, Amount string
			Period       string `json:"period"`
		} `json:"ledger"`
	}
	first.Decode(t, &view)
	require.Len(t, view.Balances, 1)
	assert.Equal(t, "USD", view.Balances[0].Currency)
	assert.Equal(t, "0.00", view.Balances[0].Available)
	require.Len(t, view.Ledger, 2)
	assert.Equal(t, "granted", view.Ledger[0].Type)
	assert.Equal(t, "applied", view.Ledger[1].Type)
	assert.Equal(t, "-10.00", view.Ledger[1].Amount)
	assert.Equal(t, "2026-03", view.Ledger[1].Period)

	var wg sync.WaitGroup
	bodies := make([]response, 40)
	for i := range bodies {
		wg.Add(1)
		go func() { defer wg.Done(); bodies[i] = srv.do(http.MethodGet, path, token, nil) }()
	}
	wg.Wait()
	for _, b := range bodies {
		require.Equal(t, http.StatusOK, b.Status, "%s", b.Body)
		assert.JSONEq(t, string(first.Body), string(b.Body))
	}
	for _, bad := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, path + "?limit=1", http.StatusBadRequest},
		{http.MethodGet, path + "?" + strings.Repeat("x", 8000), http.StatusBadRequest},
		{http.MethodPost, path, http.StatusMethodNotAllowed}, // nothing on the API grants credit
		{http.MethodPut, path, http.StatusMethodNotAllowed},
	} {
		res := srv.do(bad.method, bad.path, token, map[string]string{"amount": "1000000.00", "kind": "promotional", "reason": "free money"})
		assert.Equal(t, bad.status, res.Status, "%s %s: %s", bad.method, bad.path[:min(len(bad.path), 60)], res.Body)
		assert.Equal(t, problem.ContentType, res.Header.Get("Content-Type"))
	}
	for _, rt := range httpapi.Routes() {
		if strings.Contains(rt.Pattern, "credit") {
			assert.True(t, strings.HasPrefix(rt.Pattern, "GET "), "only reads of credits are routed: %s", rt.Pattern)
		}
	}
	after := srv.do(http.MethodGet, path, token, nil)
	assert.JSONEq(t, string(first.Body), string(after.Body), "the refused requests changed nothing")
	srv.Stop()

	out, _, err = runCLI(t, "billing", "audit", "--data", data, "--tenant", tid, "--period", "2026-03")
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, ": MATCH")
	assert.Contains(t, out, "credit "+grantID[1])
	out, _, err = runCLI(t, "billing", "credits", "show", "--data", data, "--tenant", tid)
	require.NoError(t, err, "%s", out)
	assert.JSONEq(t, string(first.Body), out)
	_, _, err = runCLI(t, "billing", "credits", "void", "--data", data, "--tenant", tid, "--grant", grantID[1], "--reason", "r")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothing left")
}
