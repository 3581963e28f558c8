package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
)

// catalogCmd checks plan catalogue files before they are served or shipped
// (make lambda CATALOG=FILE runs it).
func catalogCmd() *cobra.Command {
	c := &cobra.Command{Use: "catalog", Short: "Check plan catalogue files and show the default one"}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Load a plan catalogue (YAML or JSON) as serve and the functions do, and print its meters and plans",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := catalog.Load(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			plans := "plans"
			if len(cat.Plans) == 1 {
				plans = "plan"
			}
			fmt.Fprintf(out, "%s: valid, currency %s, %d %s; onboarding without a plan gets %q\n\n",
				args[0], cat.Currency, len(cat.Plans), plans, commands.Catalog{Catalog: cat}.DefaultPlan())
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "METER\tAGGREGATION\tNAME")
			for _, m := range cat.AllMeters() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.ID, m.Aggregation, m.Name)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(out)
			tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "PLAN\tNAME\tBASE FEE (%s)\tPRICES\n", cat.Currency)
			for _, p := range cat.Plans {
				prices := make([]string, len(p.Prices))
				for i, pr := range p.Prices {
					prices[i] = pr.Meter + " " + string(pr.Model)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.Name, p.BaseFee.StringFixed(cat.MinorUnits()), strings.Join(prices, ", "))
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the embedded default catalogue (YAML), a starting point for your own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(catalog.DefaultYAML())
			return err
		},
	}
	c.AddCommand(check, show, catalogPublishCmd(), catalogHistoryCmd())
	return c
}

// catalogPublishCmd publishes a catalogue file into the platform's price book:
// a new version of every plan whose definition changed; tenants stay on the
// versions they subscribed to until migrated (docs/billing.md, "Plan versions").
func catalogPublishCmd() *cobra.Command {
	be := &backendFlags{}
	var asJSON bool
	c := &cobra.Command{
		Use:   "publish FILE",
		Short: "Publish a plan catalogue: a new version of each plan whose definition changed (on sqlite the server must be stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := catalog.Load(args[0])
			if err != nil {
				return err
			}
			app, err := be.open(cmd, toolOptions{catalogFile: args[0], exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			res, err := app.Service.PublishCatalog(cmd.Context(), cat)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			if !res.Changed {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: nothing changed; catalogue version %d is the latest\n", args[0], res.Version)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: published as catalogue version %d\n", args[0], res.Version)
			for _, r := range res.Created {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s v%d\n", r.Plan, r.Version)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	be.add(c)
	return c
}

// catalogHistoryCmd lists the published catalogue versions and the plan
// versions each created.
func catalogHistoryCmd() *cobra.Command {
	be := &backendFlags{}
	var asJSON bool
	c := &cobra.Command{
		Use:   "history",
		Short: "List the published catalogue versions and the plan versions each created",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := be.open(cmd, toolOptions{})
			if err != nil {
				return err
			}
			defer app.Close()
			hist, err := app.Service.CatalogHistory(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), hist)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tPUBLISHED\tPLAN VERSIONS CREATED")
			for _, h := range hist {
				refs := make([]string, len(h.Created))
				for i, r := range h.Created {
					refs[i] = fmt.Sprintf("%s v%d", r.Plan, r.Version)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\n", h.Version, h.PublishedAt.UTC().Format(time.RFC3339), strings.Join(refs, ", "))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the versions with their catalogues as JSON")
	be.add(c)
	return c
}
