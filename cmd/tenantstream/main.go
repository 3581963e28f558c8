package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/notify"
	"github.com/tenantstream/tenantstream/projections"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	var exit exitCode
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "tenantstream:", err)
	}
	os.Exit(exitStatusOf(err))
}

// exitCode ends the program with a status but no error message (the audit's 1).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "tenantstream",
		Short:         "Event-sourced multi-tenant SaaS backend",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	var data string
	root.PersistentFlags().StringVar(&data, "data", "./data", "data directory")
	be := &backendFlags{data: &data}
	root.Version = version()
	root.SetVersionTemplate("tenantstream {{.Version}}\n")
	root.AddCommand(serveCmd(&data), billingCmd(be), projectionsCmd(be), notificationsCmd(&data), catalogCmd(), versionCmd())
	strictCommands(root)
	return root
}

// The backends the billing and projections commands work on.
const (
	backendSQLite   = "sqlite"
	backendDynamoDB = "dynamodb"
)

// backendFlags say where an operator command finds the platform: the local
// data directory (sqlite) or the AWS tables (dynamodb). The AWS defaults are
// the variables the functions read (docs/aws.md).
type backendFlags struct {
	data                                       *string
	kind, region, events, readModels, endpoint string
	settle                                     time.Duration
}

// awsFlags are the flags that only mean something with --backend dynamodb.
var awsFlags = []string{"region", "events-table", "readmodels-table", "endpoint-url", "settle-window"}

func (b *backendFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&b.kind, "backend", backendSQLite, "where the platform's data is: sqlite (the --data directory) or dynamodb (the AWS tables)")
	f.StringVar(&b.region, "region", os.Getenv("AWS_REGION"), "dynamodb: AWS region (default $AWS_REGION, else the AWS profile's)")
	f.StringVar(&b.events, "events-table", os.Getenv("TENANTSTREAM_EVENTS_TABLE"), "dynamodb: the events table (default $TENANTSTREAM_EVENTS_TABLE)")
	f.StringVar(&b.readModels, "readmodels-table", os.Getenv("TENANTSTREAM_READMODELS_TABLE"), "dynamodb: the read-model table (default $TENANTSTREAM_READMODELS_TABLE)")
	f.StringVar(&b.endpoint, "endpoint-url", os.Getenv("AWS_ENDPOINT_URL"), "dynamodb: send AWS calls to this URL, such as a local DynamoDB or moto (default $AWS_ENDPOINT_URL)")
	f.DurationVar(&b.settle, "settle-window", 0, "dynamodb: how long an event may take to appear in the tenant-history index; a rebuild waits it out after switching (default 5s)")
}

// opened is the platform an operator command works on, on either backend, so
// each command has one body.
type opened struct {
	*wire.Platform
	// CatchUp applies new events to the local projections. On DynamoDB the
	// pipe and the projector functions feed them, and next to a running
	// server the server does, so it does nothing.
	CatchUp func(context.Context) error
	Close   func() error
}

func nothingToCatchUp(context.Context) error { return nil }

// toolOptions are what a command needs of the platform it opens.
type toolOptions struct {
	catalogFile     string
	grace           time.Duration // how long after its end a period may be closed; 0: commands.DefaultGrace
	usageWindowDays int           // how far back usage may be dated; 0: commands.UsageMaxAgeDays
	auditReadModel  bool          // audits also compare the ledgers read model
	// exclusive (sqlite) locks the data directory, so the server must be stopped,
	// and brings the projections up to date first; otherwise the store is
	// opened for reading next to a running server.
	exclusive bool
}

// open opens the backend the flags name for cmd.
func (b *backendFlags) open(cmd *cobra.Command, o toolOptions) (*opened, error) {
	ctx := cmd.Context()
	switch b.kind {
	case backendSQLite:
		for _, name := range awsFlags {
			if cmd.Flags().Changed(name) {
				return nil, usageError{fmt.Errorf("--%s applies to --backend %s only", name, backendDynamoDB)}
			}
		}
		if _, err := os.Stat(filepath.Join(*b.data, "events.db")); err != nil {
			return nil, fmt.Errorf("no event store in %s (run tenantstream serve first, or pass --data)", *b.data)
		}
		if o.exclusive {
			app, err := OpenApp(ctx, Config{DataDir: *b.data, CatalogFile: o.catalogFile, Grace: o.grace, UsageWindowDays: o.usageWindowDays,
				Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err != nil {
				return nil, err
			}
			if err := app.CatchUp(ctx); err != nil {
				app.Close()
				return nil, err
			}
			return &opened{Platform: app.Platform, CatchUp: app.CatchUp, Close: app.Close}, nil
		}
		cat, err := loadCatalog(o.catalogFile)
		if err != nil {
			return nil, err
		}
		local, err := openLocal(ctx, *b.data, clock.System{}, true)
		if err != nil {
			return nil, err
		}
		p, err := wire.Open(ctx, wire.Options{Events: local.Events, ReadModels: local.ReadModels, Catalog: cat,
			Grace: o.grace, UsageWindow: usageWindow(o.usageWindowDays), AuditReadModel: o.auditReadModel})
		if err != nil {
			local.Close()
			return nil, err
		}
		return &opened{Platform: p, CatchUp: nothingToCatchUp, Close: local.Close}, nil
	case backendDynamoDB:
		if cmd.Flags().Changed("data") {
			return nil, usageError{fmt.Errorf("--data applies to --backend %s only", backendSQLite)}
		}
		if b.events == "" {
			return nil, usageError{fmt.Errorf("--backend %s needs --events-table (or TENANTSTREAM_EVENTS_TABLE)", backendDynamoDB)}
		}
		if b.readModels == "" {
			return nil, usageError{fmt.Errorf("--backend %s needs --readmodels-table (or TENANTSTREAM_READMODELS_TABLE)", backendDynamoDB)}
		}
		cat, err := loadCatalog(o.catalogFile)
		if err != nil {
			return nil, err
		}
		p, err := wire.OpenOps(ctx, wire.Options{Store: wire.StoreDynamoDB, Env: wire.Env{Region: b.region, EndpointURL: b.endpoint,
			EventsTable: b.events, ReadModelsTable: b.readModels, SettleWindow: b.settle}, Catalog: cat,
			Grace: o.grace, UsageWindow: usageWindow(o.usageWindowDays), AuditReadModel: o.auditReadModel})
		if err != nil {
			return nil, fmt.Errorf("open dynamodb: %w", err)
		}
		return &opened{Platform: p, CatchUp: nothingToCatchUp, Close: func() error { return nil }}, nil
	}
	return nil, usageError{fmt.Errorf("--backend %q: want %s or %s", b.kind, backendSQLite, backendDynamoDB)}
}

func serveCmd(data *string) *cobra.Command {
	cfg := Config{}
	var webhooks string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the platform locally: API, projections, metering, billing close and notifications",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.DataDir = *data
			cfg.Log = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			if webhooks != "" {
				cfg.Webhooks = strings.Split(webhooks, ",")
				if cfg.WebhookSecret == "" {
					return usageError{errors.New("--webhook-secret is required with --webhooks")}
				}
			}
			tuneGC()
			app, err := OpenApp(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer app.Close()
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), quickstart(ln.Addr().String(), cfg, app.Clock.Now()))
			return app.Serve(cmd.Context(), ln)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Addr, "addr", "localhost:8080", "listen address HOST:PORT")
	f.BoolVar(&cfg.TestClock, "test-clock", false, "enable POST /test-clock to simulate time (development only)")
	f.StringVar(&cfg.CatalogFile, "catalog", "", "plan catalogue file (YAML or JSON); default: the embedded catalogue")
	f.StringVar(&cfg.IssuerURL, "issuer", "", "token issuer URL (default http://ADDR)")
	f.DurationVar(&cfg.Grace, "grace", commands.DefaultGrace, "how long after a period ends it is closed")
	f.IntVar(&cfg.UsageWindowDays, "usage-window-days", commands.UsageMaxAgeDays, "how many days back reported usage may be dated (late usage of a closed period is billed on the next invoice)")
	f.StringVar(&webhooks, "webhooks", "", "comma-separated webhook URLs for notifications")
	f.StringVar(&cfg.WebhookSecret, "webhook-secret", os.Getenv("TENANTSTREAM_WEBHOOK_SECRET"), "HMAC secret for webhook signatures")
	f.StringVar(&cfg.OnboardingRate, "onboarding-rate", "", fmt.Sprintf("POST /onboarding requests allowed per client address and process, as N/DURATION such as 5/1m or 100/1h, or off (default %s)", httpapi.DefaultOnboardingRate.Spec()))
	f.IntVar(&cfg.OnboardingBurst, "onboarding-burst", 0, fmt.Sprintf("how many onboarding requests one address may send at once (0: %d, or N of --onboarding-rate)", httpapi.DefaultOnboardingRate.Burst))
	f.IntVar(&cfg.HashMemoryMiB, "hash-memory-mib", 0, "memory argon2id password hashing may hold at once, in MiB; excess logins wait up to 2s, then get 503 (default 160, or a third of GOMEMLIMIT when lower)")
	return c
}

// quickstart is the banner serve prints; now is the server's clock, so the test
// clock example (02:00 on the first of next month, past the grace window, which
// closes this month) is always in the future.
func quickstart(addr string, cfg Config, now time.Time) string {
	base := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, "tenantstream is running on %s (data in %s)\n\n", base, cfg.DataDir)
	fmt.Fprintf(&b, "  curl -s -X POST %s/onboarding -H 'Content-Type: application/json' \\\n", base)
	fmt.Fprintf(&b, "    -d '{\"tenant_name\":\"acme\",\"email\":\"admin@acme.test\",\"password\":\"Sup3r-secret!\"}'\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/auth/login -H 'Content-Type: application/json' \\\n", base)
	fmt.Fprintf(&b, "    -d '{\"tenant_name\":\"acme\",\"email\":\"admin@acme.test\",\"password\":\"Sup3r-secret!\"}'\n\n")
	fmt.Fprintf(&b, "  API reference: %s/openapi.json   metrics: %s/metrics\n", base, base)
	if cfg.TestClock {
		now = now.UTC()
		next := time.Date(now.Year(), now.Month()+1, 1, 2, 0, 0, 0, time.UTC)
		fmt.Fprintf(&b, "  test clock on: POST %s/test-clock {\"now\": %q} closes %s\n", base, next.Format(time.RFC3339), now.Format("2006-01"))
	}
	b.WriteString("\n")
	return b.String()
}

func billingCmd(be *backendFlags) *cobra.Command {
	c := &cobra.Command{Use: "billing", Short: "Close billing periods and audit invoices"}
	var catalogFile string
	var usageDays int
	c.PersistentFlags().StringVar(&catalogFile, "catalog", "", "plan catalogue file (default: the embedded catalogue)")
	c.PersistentFlags().IntVar(&usageDays, "usage-window-days", commands.UsageMaxAgeDays, "the server's --usage-window-days: how far back late usage may be dated")

	var period, tenant string
	var grace time.Duration
	closeCmd := &cobra.Command{
		Use:   "close --period YYYY-MM [--tenant ID]",
		Short: "Issue invoices for a period (idempotent)",
		Long: "Issue invoices for a period (idempotent).\n\n" +
			"On sqlite the server must be stopped; on dynamodb the invoice event goes to the events table and the\n" +
			"projector functions update the read models, and without --tenant the tenants come from the tenants read model.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return fmt.Errorf("--period: %w", err)
			}
			app, err := be.open(cmd, toolOptions{catalogFile: catalogFile, grace: grace, usageWindowDays: usageDays, exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			out := cmd.OutOrStdout()
			closeOne := func(t events.TenantID) error {
				res, err := app.Billing.Close(cmd.Context(), t, p)
				if err != nil {
					return fmt.Errorf("close %s for %s: %w", p, t, err)
				}
				printClosed(out, res, app.Billing.Catalog.MinorUnits())
				return nil
			}
			if tenant != "" {
				err = closeOne(events.TenantID(tenant))
			} else {
				err = app.Service.EachTenant(cmd.Context(), func(t projections.TenantSummary) error { return closeOne(events.TenantID(t.TenantID)) })
			}
			if err != nil {
				return err
			}
			return app.CatchUp(cmd.Context())
		},
	}
	closeCmd.Flags().StringVar(&period, "period", "", "period YYYY-MM (required)")
	closeCmd.Flags().StringVar(&tenant, "tenant", "", "one tenant id (default: every tenant)")
	closeCmd.Flags().DurationVar(&grace, "grace", commands.DefaultGrace, "a period may be closed this long after it ends")
	_ = closeCmd.MarkFlagRequired("period")
	be.add(closeCmd)

	var asJSON, readModel bool
	auditCmd := &cobra.Command{
		Use:   "audit --tenant ID --period YYYY-MM [--json]",
		Short: "Recompute an issued invoice from the events; exit 0 on a match, 1 on a mismatch",
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return fmt.Errorf("--period: %w", err)
			}
			app, err := be.open(cmd, toolOptions{catalogFile: catalogFile, usageWindowDays: usageDays, auditReadModel: readModel})
			if err != nil {
				return err
			}
			defer app.Close()
			rep, err := app.Billing.Audit(cmd.Context(), events.TenantID(tenant), p)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := printJSON(out, rep); err != nil {
					return err
				}
			} else {
				printAudit(out, rep)
			}
			if !rep.Match {
				return exitCode(1)
			}
			return nil
		},
	}
	auditCmd.Flags().StringVar(&period, "period", "", "period YYYY-MM (required)")
	auditCmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (required)")
	auditCmd.Flags().BoolVar(&asJSON, "json", false, "print the comparison as JSON")
	auditCmd.Flags().BoolVar(&readModel, "read-model", true, "also compare the ledgers read model with the fold of the store")
	_ = auditCmd.MarkFlagRequired("period")
	_ = auditCmd.MarkFlagRequired("tenant")
	be.add(auditCmd)
	c.AddCommand(closeCmd, auditCmd, quoteCmd(&catalogFile))
	return c
}

// printClosed reports what closing one tenant's period did.
func printClosed(out io.Writer, res commands.CloseResult, minor int32) {
	switch {
	case res.Issued:
		fmt.Fprintf(out, "%s %s: issued invoice %d (%s) %s %s\n", res.TenantID, res.Period, res.Invoice.Number, res.Invoice.InvoiceID, res.Invoice.Subtotal.StringFixed(minor), res.Invoice.Currency)
	case res.Invoice != nil:
		fmt.Fprintf(out, "%s %s: already closed (invoice %d)\n", res.TenantID, res.Period, res.Invoice.Number)
	default:
		fmt.Fprintf(out, "%s %s: nothing to bill: %s\n", res.TenantID, res.Period, res.Reason)
	}
}

func quoteCmd(catalogFile *string) *cobra.Command {
	var plan, usage string
	var asJSON bool
	c := &cobra.Command{
		Use:   "quote --plan ID [--usage meter=qty[,meter=qty...]] [--catalog FILE] [--json]",
		Short: "Price usage over one full period of a plan (no tenant or data directory needed)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := loadCatalog(*catalogFile)
			if err != nil {
				return err
			}
			qty, err := parseUsage(usage)
			if err != nil {
				return usageError{err}
			}
			q, err := billing.QuotePlan(cat, plan, qty)
			if err != nil {
				return usageError{err} // an unknown plan or meter, a negative quantity
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, q)
			}
			minor := cat.MinorUnits()
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "LINE\tQUANTITY\tAMOUNT (%s)\t\n", q.Currency)
			for _, l := range q.Lines {
				fmt.Fprintf(tw, "%s\t%s\t%s\t\n", l.Description, l.Quantity.String(), l.Amount.StringFixed(minor))
			}
			fmt.Fprintf(tw, "subtotal\t\t%s\t\n", q.Subtotal.StringFixed(minor))
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&plan, "plan", "", "plan id (required)")
	c.Flags().StringVar(&usage, "usage", "", "aggregated usage per meter: meter=qty[,meter=qty...]")
	c.Flags().BoolVar(&asJSON, "json", false, `print {"currency", "lines", "subtotal"} with decimal strings`)
	_ = c.MarkFlagRequired("plan")
	return c
}

// parseUsage parses "meter=qty[,meter=qty...]" into exact decimals.
func parseUsage(s string) (map[string]decimal.Decimal, error) {
	out := map[string]decimal.Decimal{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		meter, qty, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || meter == "" {
			return nil, fmt.Errorf("--usage: %q is not meter=qty", part)
		}
		if _, dup := out[meter]; dup {
			return nil, fmt.Errorf("--usage: meter %q given twice", meter)
		}
		d, err := decimal.NewFromString(qty)
		if err != nil {
			return nil, fmt.Errorf("--usage: %s: %q is not a decimal quantity", meter, qty)
		}
		out[meter] = d
	}
	return out, nil
}

func printAudit(w io.Writer, rep commands.AuditReport) {
	verdict := "MATCH"
	if !rep.Match {
		verdict = "MISMATCH"
	}
	fmt.Fprintf(w, "invoice %d (%s) tenant %s period %s: %s\n", rep.Number, rep.InvoiceID, rep.TenantID, rep.Period, verdict)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tISSUED QTY\tRECOMPUTED QTY\tISSUED\tRECOMPUTED\t")
	for _, l := range rep.Lines {
		mark := "ok"
		if !l.Match {
			mark = "DIFFERS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Key, l.IssuedQuantity, l.RecomputedQuantity, l.IssuedAmount, l.RecomputedAmount, mark)
	}
	fmt.Fprintf(tw, "subtotal (%s)\t\t\t%s\t%s\t\n", rep.Currency, rep.IssuedSubtotal, rep.RecomputedSubtotal)
	tw.Flush()
	if len(rep.Checks) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tFROM THE STORE\tFOUND\t")
	for _, c := range rep.Checks {
		mark := "ok"
		if !c.Match {
			mark = "DIFFERS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Key, c.Store, c.Found, mark)
	}
	tw.Flush()
}

func projectionsCmd(be *backendFlags) *cobra.Command {
	c := &cobra.Command{Use: "projections", Short: "List, inspect and rebuild projections"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the registered projections and the event types they handle",
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tHANDLES")
			for _, p := range projections.Registered() {
				fmt.Fprintf(tw, "%s\t%s\n", p.Name(), strings.Join(p.Handles(), ", "))
			}
			return tw.Flush()
		},
	}
	var tenant string
	rebuild := &cobra.Command{
		Use:   "rebuild NAME|--all [--tenant ID]",
		Short: "Rebuild a projection from the event store into a fresh generation, then switch",
		Long: "Rebuild a projection from the event store into a fresh generation, then switch.\n\n" +
			"On sqlite the server must be stopped. On dynamodb the rebuild reads the events table and writes the new\n" +
			"generation to the read-model table; the projector functions keep applying new events meanwhile, so rebuild\n" +
			"when traffic is quiet.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all, _ := cmd.Flags().GetBool("all")
			var names []string
			switch {
			case all && len(args) == 0:
				for _, p := range projections.Registered() {
					names = append(names, p.Name())
				}
			case !all && len(args) == 1:
				names = args
			default:
				return errors.New("name one projection or pass --all")
			}
			app, err := be.open(cmd, toolOptions{exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			pp := projections.NewProgressPrinter(cmd.ErrOrStderr())
			for _, n := range names {
				if err := app.Engine.Rebuild(cmd.Context(), n, projections.RebuildOptions{Tenant: events.TenantID(tenant), Progress: pp.Print}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rebuilt %s\n", n)
			}
			return nil
		},
	}
	rebuild.Flags().StringVar(&tenant, "tenant", "", "rebuild one tenant only")
	rebuild.Flags().Bool("all", false, "rebuild every projection")
	be.add(rebuild)
	parked := &cobra.Command{
		Use:   "parked NAME",
		Short: "List events a projection parked, with the reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := be.open(cmd, toolOptions{})
			if err != nil {
				return err
			}
			defer app.Close()
			ps, err := app.Engine.Parked(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), ps)
		},
	}
	be.add(parked)
	c.AddCommand(list, rebuild, parked)
	return c
}

func notificationsCmd(data *string) *cobra.Command {
	c := &cobra.Command{Use: "notifications", Short: "Show notifications sent"}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the notifications delivered (onboardings and invoices); local data directory only (on AWS they go to SNS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDataDir(*data); err != nil {
				return err
			}
			notes, err := notify.ReadFile(*data)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, notes)
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CREATED\tTYPE\tTENANT\tID")
			for _, raw := range notes {
				var n projections.Notification
				if json.Unmarshal(raw, &n) == nil {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.CreatedAt.Format(time.RFC3339), n.Type, n.TenantID, n.ID)
				}
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	c.AddCommand(list)
	return c
}

// printJSON writes v as indented JSON, the --json output of every command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
