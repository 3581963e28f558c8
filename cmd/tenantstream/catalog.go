package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

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
	c.AddCommand(check, show)
	return c
}
