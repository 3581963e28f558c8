package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/problem"
	"github.com/tenantstream/tenantstream/projections"
)

// operatorToken mints an operator token for name with the CLI, as the data
// directory's owner does.
func operatorToken(t *testing.T, dir, name string) string {
	t.Helper()
	out, _, err := runCLI(t, "operator", "token", "--data", dir, "--name", name, "--ttl", "30m")
	require.NoError(t, err)
	tok := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(tok, identity.OperatorTokenPrefix), "%q", out)
	return tok
}

func problemOf(t *testing.T, res liveResponse) problem.Problem {
	t.Helper()
	require.Equal(t, problem.ContentType, res.header.Get("Content-Type"), "%s", res)
	var p problem.Problem
	require.NoError(t, json.Unmarshal(res.body, &p), "%s", res)
	return p
}

// Acceptance 1 of the tenant lifecycle: an operator, over HTTP and through
// the CLI against a running server, lists tenants, suspends one (its writes
// get 403, reads work, its admins are notified), reactivates it and offboards
// it, and erases it.
func TestOperatorLifecycleEndToEnd(t *testing.T) {
	app := startLiveApp(t, Config{})
	acme, globex := app.onboard(t, "op-acme"), app.onboard(t, "op-globex")
	tok := app.login(t, acme).AccessToken
	key := app.createKey(t, acme.ID, tok, allScopes...).Key
	item := "/tenants/" + acme.ID + "/data/doc"
	app.must(t, http.StatusOK, nil, "PUT", item, tok, map[string]any{"v": 1})
	app.settle(t)

	op := operatorToken(t, app.dir, "alice")
	cli := func(args ...string) (string, error) {
		out, _, err := runCLI(t, append(args, "--server", app.base, "--token", op)...)
		return out, err
	}

	out, err := cli("operator", "tenants", "list")
	require.NoError(t, err)
	assert.Contains(t, out, acme.ID)
	assert.Contains(t, out, globex.ID)
	out, err = cli("operator", "tenants", "list", "--name-prefix", "OP-AC", "--json")
	require.NoError(t, err)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 1)
	assert.Equal(t, acme.ID, rows[0]["tenant_id"])
	assert.Equal(t, "active", rows[0]["status"])

	out, err = cli("operator", "tenants", "suspend", acme.ID, "--reason", "invoice 7 unpaid")
	require.NoError(t, err)
	assert.Contains(t, out, "is suspended")

	// Writes: 403 with the suspension's problem type and reason, for the
	// admin's token and for the API key alike.
	usage := map[string]any{"events": []map[string]any{{"id": "u1", "meter": "compute_seconds", "quantity": "1", "timestamp": app.Clock.Now()}}}
	for _, w := range []struct {
		method, path, token string
		body                any
	}{
		{"PUT", item, tok, map[string]any{"v": 2}}, {"DELETE", item, tok, nil}, {"PUT", item, key, map[string]any{"v": 2}},
		{"POST", "/tenants/" + acme.ID + "/users", tok, map[string]any{"email": "x@op-acme.example", "password": "Corr3ct-Horse!"}},
		{"POST", "/tenants/" + acme.ID + "/api-keys", tok, map[string]any{"name": "k", "scopes": []string{"data:read"}}},
		{"POST", "/tenants/" + acme.ID + "/invitations", tok, map[string]any{"email": "y@op-acme.example"}},
		{"PUT", "/tenants/" + acme.ID + "/plan", tok, map[string]any{"plan": "pro"}},
		{"POST", "/tenants/" + acme.ID + "/usage", key, usage},
	} {
		res := app.do(t, w.method, w.path, w.token, w.body)
		require.Equal(t, http.StatusForbidden, res.status, "%s %s: %s", w.method, w.path, res)
		p := problemOf(t, res)
		assert.Equal(t, commands.ProblemTenantSuspended, p.Type)
		assert.Contains(t, p.Detail, "invoice 7 unpaid")
		var ext map[string]any
		require.NoError(t, json.Unmarshal(res.body, &ext))
		assert.Equal(t, "suspended", ext["tenant_status"], "%s", res)
		assert.Equal(t, "invoice 7 unpaid", ext["reason"])
	}
	// Reads, logins and billing work.
	app.must(t, http.StatusOK, nil, "GET", item, tok, nil)
	app.must(t, http.StatusOK, nil, "GET", item, key, nil)
	app.must(t, http.StatusOK, nil, "GET", "/billing/"+acme.ID, tok, nil)
	tok = app.login(t, acme).AccessToken
	var prof map[string]any
	app.must(t, http.StatusOK, &prof, "GET", "/tenants/"+acme.ID, tok, nil)
	assert.Equal(t, "suspended", prof["status"])
	// globex is untouched.
	app.must(t, http.StatusOK, nil, "PUT", "/tenants/"+globex.ID+"/data/doc", app.login(t, globex).AccessToken, map[string]any{"v": 1})

	// The admin is told.
	app.settle(t)
	notes := tenantNotifications(t, app, acme.ID)
	require.Contains(t, notes, tenant.TypeSuspended)
	assert.Equal(t, "invoice 7 unpaid", notes[tenant.TypeSuspended]["reason"])
	assert.Equal(t, []any{acme.Email}, notes[tenant.TypeSuspended]["to"])

	out, err = cli("operator", "tenants", "show", acme.ID)
	require.NoError(t, err)
	assert.Contains(t, out, `"status": "suspended"`)
	assert.Contains(t, out, `"member_count": 1`)

	out, err = cli("operator", "tenants", "reactivate", acme.ID, "--reason", "paid")
	require.NoError(t, err)
	assert.Contains(t, out, "is active")
	app.must(t, http.StatusOK, nil, "PUT", item, tok, map[string]any{"v": 3})
	app.settle(t)
	assert.Contains(t, tenantNotifications(t, app, acme.ID), tenant.TypeReactivated)

	// Reactivating an active tenant is refused, and says why.
	_, err = cli("operator", "tenants", "reactivate", acme.ID, "--reason", "again")
	assert.ErrorContains(t, err, "409")

	// The operator's reads of the tenant, as the operator.
	for _, p := range []string{"", "/usage", "/invoices", "/audit-log?limit=5"} {
		app.must(t, http.StatusOK, nil, "GET", "/admin/tenants/"+acme.ID+p, op, nil)
	}
	var audit commands.AuditPage
	app.must(t, http.StatusOK, &audit, "GET", "/admin/tenants/"+acme.ID+"/audit-log?limit=1000", op, nil)
	var actors []string
	for _, e := range audit.Entries {
		if e.Action == tenant.TypeSuspended {
			actors = append(actors, e.Actor.ID)
			assert.Equal(t, commands.PrincipalSystem, e.Actor.Type, "an operator is the platform's, not a user of the tenant")
			assert.Contains(t, string(e.Details["reason"]), "invoice 7 unpaid")
		}
	}
	assert.Equal(t, []string{"operator:alice"}, actors, "the operator is the actor")

	// Offboarding: read-only for good, then erased on the running server.
	out, err = cli("operator", "tenants", "offboard", acme.ID, "--reason", "contract ended")
	require.NoError(t, err)
	assert.Contains(t, out, "is offboarding")
	res := app.do(t, "PUT", item, tok, map[string]any{"v": 4})
	require.Equal(t, http.StatusForbidden, res.status, "%s", res)
	assert.Equal(t, commands.ProblemTenantOffboarding, problemOf(t, res).Type)
	app.must(t, http.StatusOK, nil, "GET", item, tok, nil)
	_, err = cli("operator", "tenants", "suspend", acme.ID, "--reason", "too late")
	assert.ErrorContains(t, err, "409")

	// Erasure: offboarding again with erase destroys the tenant's data keys on
	// the running server; its data is gone, the other tenant's is not.
	out, err = cli("operator", "tenants", "offboard", acme.ID, "--reason", "contract ended", "--erase")
	require.NoError(t, err, out)
	app.must(t, http.StatusOK, &prof, "GET", "/admin/tenants/"+acme.ID, op, nil)
	assert.Equal(t, "erased", prof["status"], "%v", prof)
	res = app.do(t, "GET", item, key, nil)
	assert.NotEqual(t, http.StatusOK, res.status, "an erased tenant's item is gone: %s", res)
	assert.Less(t, res.status, 500, "%s", res)
	app.must(t, http.StatusOK, nil, "GET", "/admin/tenants/"+globex.ID, op, nil)

	// A tenant's token cannot drive the CLI.
	_, _, err = runCLI(t, "operator", "tenants", "list", "--server", app.base, "--token", tok)
	assert.ErrorContains(t, err, "403")
}

// tenantNotifications are the outbox's notifications of tenant by type.
func tenantNotifications(t *testing.T, app *liveApp, tenantID string) map[string]map[string]any {
	t.Helper()
	entries, err := app.Service.Reader.List(t.Context(), projections.OutboxProjection, projections.PlatformTenant, projections.OutboxCollection, "", 1000)
	require.NoError(t, err)
	out := map[string]map[string]any{}
	for _, e := range entries {
		var n projections.Notification
		require.NoError(t, json.Unmarshal(e.Value, &n))
		if n.TenantID != tenantID {
			continue
		}
		var data map[string]any
		require.NoError(t, json.Unmarshal(n.Data, &data))
		out[n.Type] = data
	}
	return out
}

// The attacker's view of the lifecycle routes: bad input is a 4xx problem that
// changes nothing, a reused key with another body is a 422, and 40
// concurrent suspensions and reactivations end in a state the history explains.
func TestOperatorRoutesUnderAttack(t *testing.T) {
	app := startLiveApp(t, Config{})
	acme := app.onboard(t, "atk-acme")
	op := operatorToken(t, app.dir, "bob")
	suspend := "/admin/tenants/" + acme.ID + "/suspend"

	bad := []struct {
		name   string
		method string
		path   string
		body   any
		want   int
	}{
		{"no reason", "POST", suspend, map[string]any{}, 400},
		{"blank reason", "POST", suspend, map[string]any{"reason": "   "}, 400},
		{"reason too long", "POST", suspend, map[string]any{"reason": strings.Repeat("r", 501)}, 400},
		{"unknown field", "POST", suspend, map[string]any{"reason": "x", "tenant_id": "other"}, 400},
		{"erase on suspend", "POST", suspend, map[string]any{"reason": "x", "erase": true}, 400},
		{"malformed json", "POST", suspend, `{"reason":`, 400},
		{"huge body", "POST", suspend, `{"reason":"` + strings.Repeat("a", 1<<20) + `"}`, 413},
		{"no such tenant", "POST", "/admin/tenants/01a23cfa-0000-7000-8000-000000000000/suspend", map[string]any{"reason": "x"}, 404},
		{"malformed tenant id", "POST", "/admin/tenants/..%2F..%2Fx/suspend", map[string]any{"reason": "x"}, 404},
		{"unknown query", "GET", "/admin/tenants?tenant=x", nil, 400},
		{"bad status", "GET", "/admin/tenants?status=deleted", nil, 400},
		{"bad time", "GET", "/admin/tenants?created_after=yesterday", nil, 400},
		{"bad limit", "GET", "/admin/tenants?limit=100000", nil, 400},
		{"bad cursor", "GET", "/admin/tenants?after=%00", nil, 400},
		{"plan unknown", "PUT", "/admin/tenants/" + acme.ID + "/plan", map[string]any{"plan": "platinum"}, 400},
		{"plan version missing", "PUT", "/admin/tenants/" + acme.ID + "/plan", map[string]any{"plan": "starter", "version": 99}, 400},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			res := app.do(t, tc.method, tc.path, op, tc.body)
			assert.Equal(t, tc.want, res.status, "%s", res)
			problemOf(t, res)
		})
	}
	var prof map[string]any
	app.must(t, http.StatusOK, &prof, "GET", "/admin/tenants/"+acme.ID, op, nil)
	assert.Equal(t, "active", prof["status"], "no bad request changed anything")

	// A reused key with another body is a 422; the same body replays.
	var first, again map[string]any
	app.must(t, http.StatusOK, &first, "POST", suspend, op, map[string]any{"reason": "audit"}, "Idempotency-Key", "s-1")
	app.must(t, http.StatusOK, &again, "POST", suspend, op, map[string]any{"reason": "audit"}, "Idempotency-Key", "s-1")
	assert.Equal(t, first["version"], again["version"])
	res := app.do(t, "POST", suspend, op, map[string]any{"reason": "other"}, "Idempotency-Key", "s-1")
	assert.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res)
	res = app.do(t, "POST", "/admin/tenants/"+acme.ID+"/reactivate", op, map[string]any{"reason": "audit"}, "Idempotency-Key", "s-1")
	assert.Equal(t, http.StatusUnprocessableEntity, res.status, "the key of a suspension on another route: %s", res)

	// 40 at once.
	var wg sync.WaitGroup
	statuses := make([]int, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := "/reactivate"
			if i%2 == 1 {
				action = "/suspend"
			}
			statuses[i] = app.do(t, "POST", "/admin/tenants/"+acme.ID+action, op, map[string]any{"reason": fmt.Sprint("race ", i)}).status
		}()
	}
	wg.Wait()
	ok := 0
	for i, s := range statuses {
		assert.Contains(t, []int{200, 409}, s, "request %d", i)
		if s == 200 {
			ok++
		}
	}
	evs, err := app.Store.Load(t.Context(), events.TenantID(acme.ID), tenant.StreamID, 1)
	require.NoError(t, err)
	state, changes := "active", 0
	for _, e := range evs {
		switch e.Type {
		case tenant.TypeSuspended:
			require.Equal(t, "active", state, "v%d", e.Version)
			state = "suspended"
			changes++
		case tenant.TypeReactivated:
			require.Equal(t, "suspended", state, "v%d", e.Version)
			state = "active"
			changes++
		}
	}
	assert.Equal(t, ok+1, changes, "each 200 is one change (plus the keyed suspension)")
	app.must(t, http.StatusOK, &prof, "GET", "/admin/tenants/"+acme.ID, op, nil)
	assert.Equal(t, state, prof["status"])
}

// The CLI refuses to mint from a directory others may read.
func TestOperatorTokenRefusesALooseKey(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	_, _, err := runCLI(t, "operator", "token", "--data", dir, "--name", "alice")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(filepath.Join(dir, identity.OperatorKeyFile), 0o640))
	_, _, err = runCLI(t, "operator", "token", "--data", dir, "--name", "alice")
	assert.ErrorContains(t, err, "lets others read")
	require.NoError(t, os.Chmod(filepath.Join(dir, identity.OperatorKeyFile), 0o600))
	require.NoError(t, os.Chmod(dir, 0o755))
	_, _, err = runCLI(t, "operator", "token", "--data", dir, "--name", "alice")
	assert.ErrorContains(t, err, "data directory")
	_, _, err = runCLI(t, "operator", "token", "--data", dir, "--name", "a b")
	assert.Equal(t, exitUsage, exitStatus(err))
}
