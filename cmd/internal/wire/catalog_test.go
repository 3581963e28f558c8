package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/projections"
)

// goldCatalog has nothing in common with the embedded default: another
// currency, a plan and a meter the default does not know.
const goldCatalog = `
currency: EUR
meters:
  - id: gpu_seconds
    aggregation: sum
plans:
  - id: gold
    name: Gold
    base_fee: "42.00"
    prices:
      - meter: gpu_seconds
        model: per_unit
        unit_price: "0.01"
`

// writeFile writes content to name in a new directory and returns the directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	return dir
}

// TENANTSTREAM_CATALOG_FILE is read as a path; a relative one resolves against
// the Lambda task root, where the zip's files are, else the working directory.
func TestFromEnvCatalogFile(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "plans.json")
	tests := []struct {
		name, file, taskRoot, want string
	}{
		{"unset: the embedded default", "", "/var/task", ""},
		{"relative, in the task root", "catalog.yaml", "/var/task", filepath.Join("/var/task", "catalog.yaml")},
		{"relative, no task root", "catalog.yaml", "", "catalog.yaml"},
		{"absolute", abs, "/var/task", abs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TENANTSTREAM_CATALOG_FILE", tt.file)
			t.Setenv("LAMBDA_TASK_ROOT", tt.taskRoot)
			assert.Equal(t, tt.want, FromEnv().CatalogFile)
		})
	}
}

// The api function, configured from the environment as on AWS, sells and prices
// the plans of TENANTSTREAM_CATALOG_FILE; without it, the embedded ones.
func TestAPIPricesWithTheCatalogFile(t *testing.T) {
	noAWSProfile(t)
	t.Setenv("TENANTSTREAM_STORE", StoreMemory)
	tests := []struct {
		name     string
		file     string // in the task root; "" leaves the variable unset
		plan     string
		status   int
		currency string
	}{
		{"catalogue file", "catalog.yaml", "gold", http.StatusCreated, "EUR"},
		{"default: the file's plan is not sold", "", "gold", http.StatusBadRequest, ""},
		{"default: the embedded plans", "", "starter", http.StatusCreated, "USD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LAMBDA_TASK_ROOT", writeFile(t, "catalog.yaml", goldCatalog))
			t.Setenv("TENANTSTREAM_CATALOG_FILE", tt.file)
			h, _, err := newAPI(context.Background(), FromEnv(), forTest(io.Discard))
			require.NoError(t, err)

			status, body := invokeAPI(t, h, http.MethodPost, "/onboarding", map[string]string{
				"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!", "plan": tt.plan}, nil)
			require.Equal(t, tt.status, status, body)
			if status != http.StatusCreated {
				assert.Contains(t, body, tt.plan)
				return
			}
			var out commands.Onboarded
			require.NoError(t, json.Unmarshal([]byte(body), &out))
			claims := map[string]string{"token_use": "id", "sub": out.AdminUserID, identity.ClaimTenantID: out.TenantID,
				identity.ClaimGroups: "[tenant_admin]"}
			status, body = invokeAPI(t, h, http.MethodGet, "/billing/"+out.TenantID, nil, claims)
			require.Equal(t, http.StatusOK, status, body)
			var sum struct {
				Plan     string            `json:"plan"`
				Currency string            `json:"currency"`
				Usage    map[string]string `json:"usage"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &sum), body)
			assert.Equal(t, tt.plan, sum.Plan)
			assert.Equal(t, tt.currency, sum.Currency)
			_, gpu := sum.Usage["gpu_seconds"]
			assert.Equal(t, tt.file != "", gpu, "the file's meters are the summary's: %v", sum.Usage)
		})
	}
}

// invokeAPI calls the api handler as API Gateway does; claims are the JWT
// authorizer's.
func invokeAPI(t *testing.T, h APIHandler, method, path string, body any, claims map[string]string) (int, string) {
	t.Helper()
	ev := awstest.APIRequest(t, method, path, "", body, claims)
	out, err := h(context.Background(), ev)
	require.NoError(t, err)
	return out.StatusCode, out.Body
}

// The billing-close-worker issues invoices priced with TENANTSTREAM_CATALOG_FILE.
func TestWorkerClosesWithTheCatalogFile(t *testing.T) {
	noAWSProfile(t)
	ctx := context.Background()
	start := time.Date(2026, 2, 28, 23, 59, 0, 0, time.UTC)
	dir := writeFile(t, "plans.json", `{"currency":"EUR","meters":[{"id":"gpu_seconds","aggregation":"sum"}],
		"plans":[{"id":"gold","base_fee":"42.00","prices":[{"meter":"gpu_seconds","model":"per_unit","unit_price":"0.01"}]}]}`)
	var metrics bytes.Buffer
	// The store's clock starts at start (TENANTSTREAM_NOW); the commands run on a
	// test clock from the same instant, so the test can move to April.
	clk := clock.NewTest(start)
	p, err := openFunction(ctx, Env{Store: StoreMemory, CatalogFile: filepath.Join(dir, "plans.json"), Now: start, MetricsNamespace: "ts-test"},
		forTest(&metrics, func(o *Options) { o.Clock = clk }))
	require.NoError(t, err)

	out, err := p.Service.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "acme", Email: "a@acme.test", Password: "Sup3r-secret!", Plan: "gold"}, nil)
	require.NoError(t, err)
	admin := commands.Meta{Principal: ident.Principal{TenantID: out.TenantID, UserID: out.AdminUserID, Roles: []string{ident.RoleTenantAdmin}}}
	require.NoError(t, clk.Set(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)))
	res, err := p.Service.RecordUsage(ctx, admin, out.TenantID, commands.Catalog{Catalog: p.Billing.Catalog},
		[]commands.UsageRecord{{ID: "job-1", Meter: "gpu_seconds", Quantity: "150", Timestamp: clk.Now()}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Accepted)
	page, err := p.Store.ReadAll(ctx, "", evs.ReadOptions{Limit: 1000})
	require.NoError(t, err)
	require.NoError(t, p.Engine.Handle(ctx, page.Events))

	require.NoError(t, clk.Set(time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)))
	body, err := json.Marshal(CloseRequest{TenantID: out.TenantID, Through: billing.Period{Year: 2026, Month: 3}})
	require.NoError(t, err)
	resp := CloseBatch(ctx, p.Billing, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body)}}})
	require.Empty(t, resp.BatchItemFailures)

	closed, err := p.Billing.Close(ctx, evs.TenantID(out.TenantID), billing.Period{Year: 2026, Month: 3})
	require.NoError(t, err)
	require.NotNil(t, closed.Invoice, "the worker issued March")
	assert.False(t, closed.Issued, "already issued by the worker")
	assert.Equal(t, "EUR", closed.Invoice.Currency)
	assert.Equal(t, "43.50", closed.Invoice.Subtotal.StringFixed(2), "42.00 gold base fee + 150 gpu_seconds at 0.01: %+v", closed.Invoice.Lines)
	assert.Contains(t, metrics.String(), "InvoicesIssued")
}

// A catalogue file that is missing or invalid fails every function's cold start
// with an error naming the file: none may start pricing with another catalogue.
func TestCatalogFileFailsTheColdStart(t *testing.T) {
	noAWSProfile(t)
	dir := writeFile(t, "bad.yaml", `
currency: EUR
plans:
  - id: gold
    base_fee: "42.00"
    prices:
      - meter: no_such_meter
        model: per_unit
        unit_price: "0.01"
`)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plans.txt"), []byte(goldCatalog), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty.json"), nil, 0o644))
	files := []struct{ name, file, errText string }{
		{"missing", filepath.Join(dir, "catalog.yaml"), "no such file"},
		{"unknown meter", filepath.Join(dir, "bad.yaml"), "no_such_meter"},
		{"empty", filepath.Join(dir, "empty.json"), "empty.json"},
		{"not yaml or json", filepath.Join(dir, "plans.txt"), "want .yaml, .yml or .json"},
	}
	outbox := (projections.Outbox{}).Name()
	functions := map[string]func(Env) error{
		"api":                  func(e Env) error { _, err := API(context.Background(), e); return err },
		"billing-close":        func(e Env) error { _, err := BillingClose(context.Background(), e); return err },
		"billing-close-worker": func(e Env) error { _, err := BillingCloseWorker(context.Background(), e); return err },
		"projector":            func(e Env) error { e.Projection = outbox; _, err := Projector(context.Background(), e); return err },
	}
	for _, f := range files {
		for name, open := range functions {
			t.Run(f.name+"/"+name, func(t *testing.T) {
				err := open(Env{Store: StoreMemory, CatalogFile: f.file, CloseQueueURL: "https://sqs.example/q"})
				require.Error(t, err)
				assert.ErrorContains(t, err, "TENANTSTREAM_CATALOG_FILE")
				assert.ErrorContains(t, err, f.file)
				assert.ErrorContains(t, err, f.errText)
			})
		}
	}
	t.Run("a valid file loads", func(t *testing.T) {
		_, err := catalog.Load(filepath.Join(writeFile(t, "catalog.yaml", goldCatalog), "catalog.yaml"))
		require.NoError(t, err, "the files above fail for their own reason only")
	})
}
