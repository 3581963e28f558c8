package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
)

func billingCmd() *cobra.Command {
	c := &cobra.Command{Use: "billing", Short: "Close billing periods and audit invoices"}
	// Every billing command prices with a catalogue.
	var catalogFile string
	c.PersistentFlags().StringVar(&catalogFile, "catalog", "", "plan catalogue file (default: the embedded catalogue)")
	c.AddCommand(closeCmd(&catalogFile), auditCmd(&catalogFile), quoteCmd(&catalogFile), creditsCmd(&catalogFile))
	return c
}

// usageWindowFlag registers --usage-window-days on a command that folds late usage.
func usageWindowFlag(c *cobra.Command, days *int) {
	c.Flags().IntVar(days, "usage-window-days", commands.UsageMaxAgeDays, "the server's --usage-window-days: how far back late usage may be dated")
}

func closeCmd(catalogFile *string) *cobra.Command {
	var period, tenant string
	var grace time.Duration
	var usageDays int
	be := &backendFlags{}
	closeCmd := &cobra.Command{
		Use:   "close --period YYYY-MM [--tenant ID]",
		Short: "Issue invoices for a period (idempotent)",
		Long: "Issue invoices for a period (idempotent).\n\n" +
			"On sqlite, with the server running on --data, the server closes the period (over data/operator.sock);\n" +
			"an invoice already issued is reported \"already closed\" and exits 0. On dynamodb the invoice event goes to the events table and the\n" +
			"projector functions update the read models, and without --tenant the tenants come from the tenants read model.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return fmt.Errorf("--period: %w", err)
			}
			// A running server closes it with its own platform (docs/ARCHITECTURE.md, "Operations").
			req := closeRequest{Period: period, Tenant: tenant}
			if cmd.Flags().Changed("grace") {
				req.Grace = grace.String()
			}
			if *catalogFile != "" {
				if req.Catalog, err = filepath.Abs(*catalogFile); err != nil {
					return err
				}
			}
			if sent, err := be.sendToServer(cmd, "/v1/billing/close", req); sent {
				return err
			}
			app, err := be.open(cmd, toolOptions{catalogFile: *catalogFile, grace: grace, usageWindowDays: usageDays, exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			if err := closePeriods(cmd.Context(), cmd.OutOrStdout(), app.Billing, app.Service, events.TenantID(tenant), p); err != nil {
				return err
			}
			return app.CatchUp(cmd.Context())
		},
	}
	closeCmd.Flags().StringVar(&period, "period", "", "period YYYY-MM (required)")
	closeCmd.Flags().StringVar(&tenant, "tenant", "", "one tenant id (default: every tenant)")
	closeCmd.Flags().DurationVar(&grace, "grace", commands.DefaultGrace, "a period may be closed this long after it ends")
	_ = closeCmd.MarkFlagRequired("period")
	usageWindowFlag(closeCmd, &usageDays)
	be.add(closeCmd)
	return closeCmd
}

func auditCmd(catalogFile *string) *cobra.Command {
	var period, tenant string
	var asJSON, readModel bool
	var usageDays int
	be := &backendFlags{}
	auditCmd := &cobra.Command{
		Use:   "audit --tenant ID --period YYYY-MM [--json]",
		Short: "Recompute an issued invoice from the events; exit 0 on a match, 1 on a mismatch",
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return fmt.Errorf("--period: %w", err)
			}
			app, err := be.open(cmd, toolOptions{catalogFile: *catalogFile, usageWindowDays: usageDays, auditReadModel: readModel})
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
	usageWindowFlag(auditCmd, &usageDays)
	be.add(auditCmd)
	return auditCmd
}

// printClosed reports what closing one tenant's period did.
func printClosed(out io.Writer, res commands.CloseResult) {
	switch {
	case res.Issued:
		// In the invoice's own currency: the price book's, not a file's.
		amount := res.Invoice.Subtotal.String()
		if minor, err := billing.MinorUnits(res.Invoice.Currency); err == nil {
			amount = res.Invoice.Subtotal.StringFixed(minor)
		}
		fmt.Fprintf(out, "%s %s: issued invoice %d (%s) %s %s\n", res.TenantID, res.Period, res.Invoice.Number, res.Invoice.InvoiceID, amount, res.Invoice.Currency)
	case res.Invoice != nil:
		fmt.Fprintf(out, "%s %s: already closed (invoice %d); nothing to do\n", res.TenantID, res.Period, res.Invoice.Number)
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

// creditsCmd grants and voids prepaid credit (docs/billing.md, "Credits"). Only
// operators grant: no HTTP route does (the operator HTTP plane is a later issue).
func creditsCmd(catalogFile *string) *cobra.Command {
	c := &cobra.Command{Use: "credits", Short: "Grant, void and show a tenant's prepaid credits (on sqlite the server must be stopped to grant or void)"}
	c.AddCommand(creditsGrantCmd(catalogFile), creditsVoidCmd(catalogFile), creditsShowCmd(catalogFile))
	return c
}

// parseWhen reads YYYY-MM-DD (00:00 UTC that day) or RFC 3339.
func parseWhen(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("%s: want YYYY-MM-DD (00:00 UTC) or RFC 3339, such as 2027-01-01T00:00:00Z", flag)}
	}
	return t.UTC(), nil
}

func creditsGrantCmd(catalogFile *string) *cobra.Command {
	be := &backendFlags{}
	var tenant, amount, currency, effective, expires, kind, reason string
	var priority int
	c := &cobra.Command{
		Use:   "grant --tenant ID --amount 10.00 --kind promotional|purchased --reason TEXT [--priority N] [--effective WHEN] [--expires WHEN]",
		Short: "Grant a tenant credit that its next invoices apply (lower --priority first, then the earliest expiry)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := commands.CreditGrantRequest{Amount: amount, Currency: currency, Priority: priority, Kind: kind, Reason: reason}
			if effective != "" {
				t, err := parseWhen("--effective", effective)
				if err != nil {
					return err
				}
				req.EffectiveAt = t
			}
			if expires != "" {
				t, err := parseWhen("--expires", expires)
				if err != nil {
					return err
				}
				req.ExpiresAt = &t
			}
			app, err := be.open(cmd, toolOptions{catalogFile: *catalogFile, exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			g, err := app.Billing.GrantCredit(cmd.Context(), operatorMeta(), tenant, req)
			if err != nil {
				return err
			}
			exp := "never"
			if g.ExpiresAt != nil {
				exp = g.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "granted %s %s %s to tenant %s (%s, priority %d, effective %s, expires %s)\n",
				g.GrantID, g.Amount, g.Currency, tenant, g.Kind, g.Priority, g.EffectiveAt.Format(time.RFC3339), exp)
			return app.CatchUp(cmd.Context())
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "the tenant id (required)")
	c.Flags().StringVar(&amount, "amount", "", "the amount, with at most the currency's minor digits (required)")
	c.Flags().StringVar(&currency, "currency", "", "must be the catalogue's currency (default: it)")
	c.Flags().IntVar(&priority, "priority", 0, "0-1000; lower applies first")
	c.Flags().StringVar(&effective, "effective", "", "when the credit starts to count: YYYY-MM-DD or RFC 3339 (default: now)")
	c.Flags().StringVar(&expires, "expires", "", "when unused credit expires: YYYY-MM-DD (00:00 UTC) or RFC 3339 (default: never)")
	c.Flags().StringVar(&kind, "kind", "", "promotional or purchased (required)")
	c.Flags().StringVar(&reason, "reason", "", "why, shown on the invoice (required)")
	for _, f := range []string{"tenant", "amount", "kind", "reason"} {
		_ = c.MarkFlagRequired(f)
	}
	be.add(c)
	return c
}

func creditsVoidCmd(catalogFile *string) *cobra.Command {
	be := &backendFlags{}
	var tenant, grant, reason string
	c := &cobra.Command{
		Use:   "void --tenant ID --grant ID --reason TEXT",
		Short: "Void what is left of a credit grant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := be.open(cmd, toolOptions{catalogFile: *catalogFile, exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			v, err := app.Billing.VoidCredit(cmd.Context(), operatorMeta(), tenant, grant, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "voided %s of grant %s of tenant %s\n", v.Amount, v.GrantID, tenant)
			return app.CatchUp(cmd.Context())
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "the tenant id (required)")
	c.Flags().StringVar(&grant, "grant", "", "the grant id, cr_... (required)")
	c.Flags().StringVar(&reason, "reason", "", "why (required)")
	for _, f := range []string{"tenant", "grant", "reason"} {
		_ = c.MarkFlagRequired(f)
	}
	be.add(c)
	return c
}

func creditsShowCmd(catalogFile *string) *cobra.Command {
	be := &backendFlags{}
	var tenant string
	c := &cobra.Command{
		Use:   "show --tenant ID",
		Short: "Print a tenant's credit balance, grants and ledger as JSON (what GET /billing/{tenant_id}/credits answers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := be.open(cmd, toolOptions{catalogFile: *catalogFile})
			if err != nil {
				return err
			}
			defer app.Close()
			v, err := app.Billing.Credits(cmd.Context(), operatorMeta(), tenant)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "the tenant id (required)")
	_ = c.MarkFlagRequired("tenant")
	be.add(c)
	return c
}
