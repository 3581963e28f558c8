package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
	pjddb "github.com/tenantstream/tenantstream/projections/dynamodb"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var tableSeq atomic.Int64

// ddbFixture is a pair of fresh tables on the shared moto and a process
// environment that cannot reach a real AWS account.
type ddbFixture struct {
	moto               *awstest.Moto
	client             *ddb.Client
	events, readModels string
}

// newDDBFixture creates small tables with names unique to this test binary run
// (moto slows down as tables grow, so every test gets its own).
func newDDBFixture(t *testing.T) *ddbFixture {
	t.Helper()
	moto := awstest.Shared(t)
	empty := filepath.Join(t.TempDir(), "aws-config")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for k, v := range map[string]string{"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ENDPOINT_URL": "", "TENANTSTREAM_EVENTS_TABLE": "", "TENANTSTREAM_READMODELS_TABLE": ""} {
		t.Setenv(k, v)
	}
	n := tableSeq.Add(1)
	f := &ddbFixture{moto: moto, client: ddb.NewFromConfig(moto.Config()),
		events: fmt.Sprintf("cli-events-%d-%d", time.Now().UnixNano(), n), readModels: fmt.Sprintf("cli-readmodels-%d-%d", time.Now().UnixNano(), n)}
	require.NoError(t, evddb.CreateTable(t.Context(), f.client, f.events))
	require.NoError(t, pjddb.CreateTable(t.Context(), f.client, f.readModels))
	return f
}

// flags are the CLI flags that select the fixture's tables.
func (f *ddbFixture) flags() []string {
	return []string{"--backend", "dynamodb", "--region", awstest.Region, "--endpoint-url", f.moto.Endpoint,
		"--events-table", f.events, "--readmodels-table", f.readModels, "--settle-window", "200ms", "--generation-fence", "100ms"}
}

// ddbPlatform plays the API functions (commands on a test clock) and the pipe
// (feed hands the store's history to the projections), as the tests' stand-in
// for what runs on AWS.
type ddbPlatform struct {
	t       *testing.T
	clk     *clock.Test
	backend *pjddb.Backend
	engine  *projections.Engine
	svc     *commands.Service
}

func (f *ddbFixture) platform(t *testing.T, cat *billing.Catalog, start time.Time) *ddbPlatform {
	t.Helper()
	clk := clock.NewTest(start)
	store := evddb.New(f.client, f.events, evddb.WithClock(clk))
	backend, err := pjddb.New(f.client, pjddb.Options{Table: f.readModels})
	require.NoError(t, err)
	engine, err := projections.NewEngine(projections.EngineOptions{Store: store, Backend: backend, Clock: clk})
	require.NoError(t, err)
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	svc := &commands.Service{Store: store, Reader: engine.Reader(), Clock: clk, Plans: commands.Catalog{Catalog: cat}, Passwords: hasher}
	return &ddbPlatform{t: t, clk: clk, backend: backend, engine: engine, svc: svc}
}

func (p *ddbPlatform) onboard(name, plan string) events.TenantID {
	p.t.Helper()
	out, err := p.svc.Onboard(p.t.Context(), commands.Meta{}, commands.Onboard{TenantName: name, Email: "admin@" + name + ".test", Password: "Sup3r-secret!", Plan: plan}, nil)
	require.NoError(p.t, err)
	return events.TenantID(out.TenantID)
}

func (p *ddbPlatform) usage(tid events.TenantID, meters commands.MeterCatalog, id, meter, qty string) {
	p.t.Helper()
	m := commands.Meta{Principal: ident.Principal{TenantID: string(tid), UserID: "admin", Roles: []string{ident.RoleTenantAdmin}}}
	res, err := p.svc.RecordUsage(p.t.Context(), m, string(tid), meters, []commands.UsageRecord{{ID: id, Meter: meter, Quantity: qty, Timestamp: p.clk.Now()}})
	require.NoError(p.t, err)
	require.Equal(p.t, 1, res.Accepted)
}

// feed applies the whole store to every projection, as the pipe would.
func (p *ddbPlatform) feed() {
	p.t.Helper()
	var cur events.Cursor
	for {
		page, err := p.svc.Store.ReadAll(p.t.Context(), cur, events.ReadOptions{Limit: 1000})
		require.NoError(p.t, err)
		if len(page.Events) == 0 {
			return
		}
		require.NoError(p.t, p.engine.Handle(p.t.Context(), page.Events))
		cur = page.Next
	}
}

// auditJSON runs billing audit --json with extra flags and decodes the report.
func auditJSON(t *testing.T, args ...string) (commands.AuditReport, int) {
	t.Helper()
	out, errOut, err := runCLI(t, append([]string{"billing", "audit", "--json"}, args...)...)
	var rep commands.AuditReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "audit output %q, stderr %q, err %v", out, errOut, err)
	return rep, exitStatus(err)
}

func mismatches(rep commands.AuditReport) []string {
	var bad []string
	for _, l := range rep.Lines {
		if !l.Match {
			bad = append(bad, strings.Join([]string{l.Key, l.IssuedAmount, l.RecomputedAmount}, " "))
		}
	}
	for _, c := range rep.Checks {
		if !c.Match {
			bad = append(bad, strings.Join([]string{c.Key, c.Store, c.Found}, " "))
		}
	}
	return bad
}

// Billing close, billing audit and projections rebuild work against
// the DynamoDB tables as they do on the data directory, with the same output
// and exit codes, the operator's catalogue and usage window.
func TestDynamoDBBillingAndProjectionsCLI(t *testing.T) {
	f := newDDBFixture(t)
	catFile := writeCatalog(t)
	cat, err := catalog.Load(catFile)
	require.NoError(t, err)
	// The tenant exists before March, so March bills all of its days.
	p := f.platform(t, cat, time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC))
	acme := p.onboard("acme", "basic")
	require.NoError(t, p.clk.Set(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)))
	p.usage(acme, commands.Catalog{Catalog: cat}, "u-1", "calls", "150")
	p.feed()
	tenantFlag := []string{"--tenant", string(acme)}
	march := []string{"--period", "2026-03"}
	with := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}

	// Without --tenant the tenants come from the tenants read model.
	out, errOut, err := runCLI(t, with([]string{"billing", "close"}, march, f.flags(), []string{"--catalog", catFile})...)
	require.NoError(t, err, "stderr %s", errOut)
	assert.Regexp(t, `^`+string(acme)+` 2026-03: issued invoice 1 \(\S+\) 36\.00 USD\n$`, out, "31.00 base + 50 calls over 100 at 0.10")
	out, errOut, err = runCLI(t, with([]string{"billing", "close"}, march, tenantFlag, f.flags(), []string{"--catalog", catFile})...)
	require.NoError(t, err, "stderr %s", errOut)
	assert.Equal(t, string(acme)+" 2026-03: already closed (invoice 1); nothing to do\n", out, "a second close issues nothing")

	rep, code := auditJSON(t, with(tenantFlag, march, f.flags(), []string{"--catalog", catFile})...)
	assert.Equal(t, 0, code, "%v", mismatches(rep))
	assert.True(t, rep.Match)
	assert.Equal(t, "36.00", rep.IssuedSubtotal)
	assert.Contains(t, rep.Checks, commands.AuditCheck{Key: "ledger read model 2026-03 calls", Store: "150", Found: "150", Match: true})
	out, _, err = runCLI(t, with([]string{"billing", "audit"}, tenantFlag, march, f.flags(), []string{"--catalog", catFile})...)
	require.NoError(t, err)
	assert.Contains(t, out, "2026-03: MATCH")

	t.Run("another catalogue file changes nothing", func(t *testing.T) {
		// The audit rates with the price book in the store, as the invoice was
		// (docs/ARCHITECTURE.md, decision 14): a dearer file is not the truth.
		dearer := filepath.Join(t.TempDir(), "dearer.yaml")
		require.NoError(t, os.WriteFile(dearer, []byte(strings.Replace(billingCatalog, `base_fee: "31.00"`, `base_fee: "32.00"`, 1)), 0o644))
		rep, code := auditJSON(t, with(tenantFlag, march, f.flags(), []string{"--catalog", dearer})...)
		assert.Equal(t, 0, code)
		assert.True(t, rep.Match)
		assert.Empty(t, mismatches(rep))
		out, _, err := runCLI(t, with([]string{"billing", "audit"}, tenantFlag, march, f.flags())...)
		assert.Equal(t, 0, exitStatus(err), "no --catalog needed")
		assert.Contains(t, out, "2026-03: MATCH")
	})

	t.Run("corrupted ledger read model, then rebuild", func(t *testing.T) {
		ctx := t.Context()
		tx, err := p.backend.Begin(ctx)
		require.NoError(t, err)
		gen, err := tx.ActiveGeneration(ctx, projections.LedgersProjection, acme)
		require.NoError(t, err)
		model := tx.ReadModel(projections.LedgersProjection, gen)
		key := projections.LedgerMeterKey(billing.Period{Year: 2026, Month: 3}, "calls")
		raw, err := model.Get(ctx, acme, projections.LedgerMetersCollection, key)
		require.NoError(t, err)
		var row projections.LedgerMeter
		require.NoError(t, json.Unmarshal(raw, &row))
		row.Sum = "149"
		raw, err = json.Marshal(row)
		require.NoError(t, err)
		require.NoError(t, model.Put(ctx, acme, projections.LedgerMetersCollection, key, raw))
		require.NoError(t, tx.Commit())

		rep, code := auditJSON(t, with(tenantFlag, march, f.flags(), []string{"--catalog", catFile})...)
		assert.Equal(t, 1, code)
		assert.Equal(t, []string{"ledger read model 2026-03 calls 150 149"}, mismatches(rep))
		rep, code = auditJSON(t, with(tenantFlag, march, f.flags(), []string{"--catalog", catFile, "--read-model=false"})...)
		assert.Equal(t, 0, code, "without the read model only the invoice is compared: %v", mismatches(rep))

		// Nothing fed the invoices read model since the close: the rebuild reads
		// the invoice from the store.
		invs, err := p.engine.Reader().List(ctx, projections.InvoicesProjection, acme, projections.InvoicesCollection, "", 10)
		require.NoError(t, err)
		assert.Empty(t, invs)

		out, errOut, err := runCLI(t, with([]string{"projections", "rebuild", "--all"}, f.flags())...)
		require.NoError(t, err, "stderr %s", errOut)
		var want string
		for _, pr := range projections.Registered() {
			want += "rebuilt " + pr.Name() + "\n"
		}
		assert.Equal(t, want, out)

		rep, code = auditJSON(t, with(tenantFlag, march, f.flags(), []string{"--catalog", catFile})...)
		assert.Equal(t, 0, code, "%v", mismatches(rep))
		invs, err = p.engine.Reader().List(ctx, projections.InvoicesProjection, acme, projections.InvoicesCollection, "", 10)
		require.NoError(t, err)
		require.Len(t, invs, 1, "the invoices read model answers after the rebuild")
		assert.Contains(t, string(invs[0].Value), `"number":1`)
		tenants, err := p.svc.ListTenants(ctx, "", 10)
		require.NoError(t, err)
		require.Len(t, tenants, 1)
		assert.Equal(t, string(acme), tenants[0].TenantID)

		out, errOut, err = runCLI(t, with([]string{"projections", "rebuild", "ledgers"}, tenantFlag, f.flags())...)
		require.NoError(t, err, "one tenant reads the tenant's history: stderr %s", errOut)
		assert.Equal(t, "rebuilt ledgers\n", out)
		// The store's settle window reaches the engine through the wiring: the
		// rebuild waits it out after its switch (DynamoDB's index is eventually
		// consistent and projector functions may run meanwhile).
		assert.Contains(t, errOut, projections.PhaseSettling)
		rep, code = auditJSON(t, with(tenantFlag, march, f.flags(), []string{"--catalog", catFile})...)
		assert.Equal(t, 0, code, "%v", mismatches(rep))
	})

	t.Run("parked events", func(t *testing.T) {
		out, errOut, err := runCLI(t, with([]string{"projections", "parked", "ledgers"}, f.flags())...)
		require.NoError(t, err, "stderr %s", errOut)
		var parked []projections.ParkedEvent
		require.NoError(t, json.Unmarshal([]byte(out), &parked), out)
		assert.Empty(t, parked)
	})

	t.Run("late usage within the usage window", func(t *testing.T) {
		// Usage dated March 30 arrives on April 5, after March was closed. The CLI
		// closed March today (the invoice's issue time), so only a usage window
		// reaching back from today to March makes the April close look for it.
		require.NoError(t, p.clk.Set(time.Date(2026, 4, 5, 10, 0, 0, 0, time.UTC)))
		m := commands.Meta{Principal: ident.Principal{TenantID: string(acme), UserID: "admin", Roles: []string{ident.RoleTenantAdmin}}}
		_, err := p.svc.RecordUsage(t.Context(), m, string(acme), commands.Catalog{Catalog: cat},
			[]commands.UsageRecord{{ID: "u-late", Meter: "calls", Quantity: "40", Timestamp: time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC)}})
		require.NoError(t, err)
		p.feed()
		window := []string{"--usage-window-days", fmt.Sprint(int(time.Since(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)).Hours()/24) + 2)}
		april := []string{"--period", "2026-04"}
		out, errOut, err := runCLI(t, with([]string{"billing", "close"}, april, tenantFlag, window, f.flags(), []string{"--catalog", catFile})...)
		require.NoError(t, err, "stderr %s", errOut)
		assert.Regexp(t, `^`+string(acme)+` 2026-04: issued invoice 2 \(\S+\) 35\.00 USD\n$`, out, "31.00 base + March's late 40 calls at 0.10")
		rep, code := auditJSON(t, with(tenantFlag, april, window, f.flags(), []string{"--catalog", catFile})...)
		assert.Equal(t, 0, code, "%v", mismatches(rep))
		require.Len(t, rep.Late, 1)
		assert.Equal(t, billing.Period{Year: 2026, Month: 3}, rep.Late[0].Period)
	})
}

// Flags that are missing or do not fit the backend fail before anything is
// read, naming the flag (and its variable) to set.
func TestDynamoDBBackendFlagErrors(t *testing.T) {
	f := newDDBFixture(t)
	endpoint := []string{"--backend", "dynamodb", "--region", awstest.Region, "--endpoint-url", f.moto.Endpoint}
	audit := []string{"billing", "audit", "--tenant", "0196f2b4-1c2d-7000-8000-00000000abcd", "--period", "2026-03"}
	tests := []struct {
		name    string
		args    []string
		errText string
	}{
		{"no events table", append(append([]string{}, audit...), append(endpoint, "--readmodels-table", f.readModels)...),
			"--backend dynamodb needs --events-table (or TENANTSTREAM_EVENTS_TABLE)"},
		{"no read-model table", append([]string{"projections", "rebuild", "--all"}, append(endpoint, "--events-table", f.events)...),
			"--backend dynamodb needs --readmodels-table (or TENANTSTREAM_READMODELS_TABLE)"},
		{"table not found", append([]string{"billing", "close", "--period", "2026-03"}, append(endpoint, "--events-table", "no-such-table", "--readmodels-table", f.readModels)...),
			`events table "no-such-table" in us-east-1: not found`},
		{"no region", []string{"projections", "parked", "ledgers", "--backend", "dynamodb", "--endpoint-url", f.moto.Endpoint, "--events-table", f.events, "--readmodels-table", f.readModels},
			"no AWS region: pass --region"},
		{"unknown backend", append(append([]string{}, audit...), "--backend", "postgres"), `--backend "postgres": want sqlite or dynamodb`},
		{"an AWS flag on sqlite", append(append([]string{}, audit...), "--region", "eu-west-1"), "--region applies to --backend dynamodb only"},
		{"--data on dynamodb", append(append([]string{}, audit...), append(endpoint, "--events-table", f.events, "--readmodels-table", f.readModels, "--data", t.TempDir())...),
			"--data applies to --backend sqlite only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, tt.args...)
			want := 2 // a usage error
			if strings.Contains(tt.errText, "not found") || strings.Contains(tt.errText, "no AWS region") {
				want = 1 // the command line was fine; the environment was not
			}
			assert.Equal(t, want, exitStatus(err), "stdout %s", out)
			assert.ErrorContains(t, err, tt.errText)
			assert.Empty(t, out)
		})
	}

	t.Run("defaults from the environment", func(t *testing.T) {
		t.Setenv("AWS_REGION", awstest.Region)
		t.Setenv("AWS_ENDPOINT_URL", f.moto.Endpoint)
		t.Setenv("TENANTSTREAM_EVENTS_TABLE", f.events)
		t.Setenv("TENANTSTREAM_READMODELS_TABLE", f.readModels)
		out, errOut, err := runCLI(t, "projections", "parked", "outbox", "--backend", "dynamodb")
		require.NoError(t, err, "stderr %s", errOut)
		assert.JSONEq(t, "[]", out)
	})
}
