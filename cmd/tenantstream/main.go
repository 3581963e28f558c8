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

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/notify"
	"github.com/tenantstream/tenantstream/projections"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	var exit exitCode
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case err != nil:
		fmt.Fprintln(os.Stderr, "tenantstream:", err)
		os.Exit(2)
	}
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
	root.AddCommand(serveCmd(&data), billingCmd(&data), projectionsCmd(&data), notificationsCmd(&data))
	return root
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
					return errors.New("--webhook-secret is required with --webhooks")
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
			fmt.Fprint(cmd.OutOrStdout(), quickstart(ln.Addr().String(), cfg))
			return app.Serve(cmd.Context(), ln)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Addr, "addr", "localhost:8080", "listen address HOST:PORT")
	f.BoolVar(&cfg.TestClock, "test-clock", false, "enable POST /test-clock to simulate time (development only)")
	f.StringVar(&cfg.CatalogFile, "catalog", "", "plan catalogue file (YAML or JSON); default: the embedded catalogue")
	f.StringVar(&cfg.IssuerURL, "issuer", "", "token issuer URL (default http://ADDR)")
	f.DurationVar(&cfg.Grace, "grace", time.Hour, "how long after a period ends it is closed")
	f.IntVar(&cfg.UsageWindowDays, "usage-window-days", 35, "how many days back reported usage may be dated (late usage of a closed period is billed on the next invoice)")
	f.StringVar(&webhooks, "webhooks", "", "comma-separated webhook URLs for notifications")
	f.StringVar(&cfg.WebhookSecret, "webhook-secret", os.Getenv("TENANTSTREAM_WEBHOOK_SECRET"), "HMAC secret for webhook signatures")
	return c
}

func quickstart(addr string, cfg Config) string {
	base := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, "tenantstream is running on %s (data in %s)\n\n", base, cfg.DataDir)
	fmt.Fprintf(&b, "  curl -s -X POST %s/onboarding -H 'Content-Type: application/json' \\\n", base)
	fmt.Fprintf(&b, "    -d '{\"tenant_name\":\"acme\",\"email\":\"admin@acme.test\",\"password\":\"Sup3r-secret!\"}'\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/auth/login -H 'Content-Type: application/json' \\\n", base)
	fmt.Fprintf(&b, "    -d '{\"tenant_name\":\"acme\",\"email\":\"admin@acme.test\",\"password\":\"Sup3r-secret!\"}'\n\n")
	fmt.Fprintf(&b, "  API reference: %s/openapi.json   metrics: %s/metrics\n", base, base)
	if cfg.TestClock {
		fmt.Fprintf(&b, "  test clock on: POST %s/test-clock {\"now\": \"2026-12-01T02:00:00Z\"}\n", base)
	}
	b.WriteString("\n")
	return b.String()
}

// openTools opens the data directory for an operator command (exclusive: the
// server must be stopped) and brings the projections up to date.
func openTools(ctx context.Context, data string, catalogFile string, grace time.Duration) (*App, error) {
	if _, err := os.Stat(filepath.Join(data, "events.db")); err != nil {
		return nil, fmt.Errorf("no event store in %s (run tenantstream serve first, or pass --data)", data)
	}
	app, err := OpenApp(ctx, Config{DataDir: data, CatalogFile: catalogFile, Grace: grace, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	if err := app.CatchUp(ctx); err != nil {
		app.Close()
		return nil, err
	}
	return app, nil
}

func billingCmd(data *string) *cobra.Command {
	c := &cobra.Command{Use: "billing", Short: "Close billing periods and audit invoices"}
	var catalogFile string
	var usageDays int
	c.PersistentFlags().StringVar(&catalogFile, "catalog", "", "plan catalogue file (default: the embedded catalogue)")
	c.PersistentFlags().IntVar(&usageDays, "usage-window-days", 35, "the server's --usage-window-days: how far back late usage may be dated")

	var period, tenant string
	var grace time.Duration
	closeCmd := &cobra.Command{
		Use:   "close --period YYYY-MM [--tenant ID]",
		Short: "Issue invoices for a period (idempotent)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return fmt.Errorf("--period: %w", err)
			}
			app, err := openTools(cmd.Context(), *data, catalogFile, grace)
			if err != nil {
				return err
			}
			defer app.Close()
			app.Service.UsageWindow = time.Duration(usageDays) * 24 * time.Hour
			var tenants []events.TenantID
			if tenant != "" {
				tenants = []events.TenantID{events.TenantID(tenant)}
			} else {
				after := ""
				for {
					page, err := app.Service.ListTenants(cmd.Context(), after, 500)
					if err != nil {
						return err
					}
					for _, t := range page {
						tenants = append(tenants, events.TenantID(t.TenantID))
					}
					if len(page) < 500 {
						break
					}
					after = page[len(page)-1].TenantID
				}
			}
			out := cmd.OutOrStdout()
			for _, t := range tenants {
				res, err := app.Billing.Close(cmd.Context(), t, p)
				if err != nil {
					return fmt.Errorf("close %s for %s: %w", p, t, err)
				}
				switch {
				case res.Issued:
					fmt.Fprintf(out, "%s %s: issued invoice %d (%s) %s %s\n", t, p, res.Invoice.Number, res.Invoice.InvoiceID, res.Invoice.Subtotal.StringFixed(app.Billing.Catalog.MinorUnits()), res.Invoice.Currency)
				case res.Invoice != nil:
					fmt.Fprintf(out, "%s %s: already closed (invoice %d)\n", t, p, res.Invoice.Number)
				default:
					fmt.Fprintf(out, "%s %s: nothing to bill: %s\n", t, p, res.Reason)
				}
			}
			return app.CatchUp(cmd.Context())
		},
	}
	closeCmd.Flags().StringVar(&period, "period", "", "period YYYY-MM (required)")
	closeCmd.Flags().StringVar(&tenant, "tenant", "", "one tenant id (default: every tenant)")
	closeCmd.Flags().DurationVar(&grace, "grace", time.Hour, "a period may be closed this long after it ends")
	_ = closeCmd.MarkFlagRequired("period")

	var asJSON, readModel bool
	auditCmd := &cobra.Command{
		Use:   "audit --tenant ID --period YYYY-MM [--json]",
		Short: "Recompute an issued invoice from the events; exit 0 on a match, 1 on a mismatch",
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return fmt.Errorf("--period: %w", err)
			}
			app, err := openReadOnly(cmd.Context(), *data, catalogFile)
			if err != nil {
				return err
			}
			defer app.Close()
			app.Service.UsageWindow = time.Duration(usageDays) * 24 * time.Hour
			app.Billing.AuditReadModel = readModel
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
	c.AddCommand(closeCmd, auditCmd, quoteCmd(&catalogFile))
	return c
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
				return err
			}
			q, err := billing.QuotePlan(cat, plan, qty)
			if err != nil {
				return err
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

func projectionsCmd(data *string) *cobra.Command {
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
		Args:  cobra.MaximumNArgs(1),
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
			app, err := openTools(cmd.Context(), *data, "", time.Hour)
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
	parked := &cobra.Command{
		Use:   "parked NAME",
		Short: "List events a projection parked, with the reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := openReadOnly(cmd.Context(), *data, "")
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
	c.AddCommand(list, rebuild, parked)
	return c
}

func notificationsCmd(data *string) *cobra.Command {
	c := &cobra.Command{Use: "notifications", Short: "Show notifications sent"}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the notifications delivered (onboardings and invoices)",
		RunE: func(cmd *cobra.Command, _ []string) error {
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
