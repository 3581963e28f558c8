package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

func projectionsCmd() *cobra.Command {
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
	rebuildFlags := &backendFlags{}
	rebuild := &cobra.Command{
		Use:   "rebuild NAME|--all [--tenant ID]",
		Short: "Rebuild a projection from the event store into a fresh generation, then switch",
		Long: "Rebuild a projection from the event store into a fresh generation, then switch.\n\n" +
			"On sqlite, with the server running on --data, the server rebuilds on its own engine (over data/operator.sock).\n" +
			"On dynamodb the rebuild reads the events table and writes the new\n" +
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
			tty := isTerminal(cmd.ErrOrStderr())
			// A running server rebuilds on its own engine (docs/ARCHITECTURE.md, "Operations").
			if sent, err := rebuildFlags.sendToServer(cmd, "/v1/projections/rebuild", rebuildRequest{Projections: names, Tenant: tenant, TTY: tty}); sent {
				return err
			}
			app, err := rebuildFlags.open(cmd, toolOptions{exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			return rebuildProjections(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), tty, app.Engine, names, events.TenantID(tenant))
		},
	}
	rebuild.Flags().StringVar(&tenant, "tenant", "", "rebuild one tenant only")
	rebuild.Flags().Bool("all", false, "rebuild every projection")
	rebuildFlags.add(rebuild)
	parkedFlags := &backendFlags{}
	parked := &cobra.Command{
		Use:   "parked NAME",
		Short: "List events a projection parked, with the reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := parkedFlags.open(cmd, toolOptions{})
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
	parkedFlags.add(parked)
	c.AddCommand(list, rebuild, parked)
	c.AddCommand(redriveCmd()) // projections_redrive.go
	return c
}
