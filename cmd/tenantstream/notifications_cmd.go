package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/handlers/notify"
	"github.com/tenantstream/tenantstream/projections"
)

func notificationsCmd() *cobra.Command {
	c := &cobra.Command{Use: "notifications", Short: "Show notifications sent"}
	var asJSON bool
	var data string
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the notifications delivered (onboardings and invoices); local data directory only (on AWS they go to SNS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDataDir(data); err != nil {
				return err
			}
			notes, err := notify.ReadFile(data)
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
	dataFlag(list, &data)
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	c.AddCommand(list)
	return c
}
