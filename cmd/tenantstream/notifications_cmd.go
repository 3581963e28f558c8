package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/handlers/notify"
	"github.com/tenantstream/tenantstream/projections"
)

func notificationsCmd() *cobra.Command {
	c := &cobra.Command{Use: "notifications", Short: "Show notifications sent, and resend webhook deliveries"}
	c.AddCommand(notificationsListCmd(), notificationsResendCmd())
	return c
}

func notificationsListCmd() *cobra.Command {
	var asJSON bool
	var data string
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the notifications delivered (onboardings and invoices) with each webhook delivery's status; local data directory only (on AWS they go to SNS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDataDir(data); err != nil {
				return err
			}
			notes, err := notify.ReadFile(data)
			if err != nil {
				return err
			}
			deliveries, err := notify.Deliveries(data)
			if err != nil {
				return err
			}
			if asJSON {
				return printNotificationsJSON(cmd.OutOrStdout(), notes, deliveries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CREATED\tTYPE\tTENANT\tID\tWEBHOOKS")
			for _, raw := range notes {
				var n projections.Notification
				if json.Unmarshal(raw, &n) == nil {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.CreatedAt.Format(time.RFC3339), n.Type, n.TenantID, n.ID, webhookSummary(deliveries[n.ID]))
				}
			}
			return tw.Flush()
		},
	}
	dataFlag(list, &data)
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array; each notification carries its webhook deliveries")
	return list
}

// printNotificationsJSON prints the notifications, each with a "deliveries"
// array: the state of its delivery to every webhook it was sent to.
func printNotificationsJSON(w io.Writer, notes []json.RawMessage, deliveries map[string][]notify.Delivery) error {
	out := make([]map[string]any, 0, len(notes))
	for _, raw := range notes {
		var n map[string]any
		if json.Unmarshal(raw, &n) != nil {
			continue
		}
		id, _ := n["id"].(string)
		ds := deliveries[id]
		if ds == nil {
			ds = []notify.Delivery{}
		}
		n["deliveries"] = ds
		out = append(out, n)
	}
	return printJSON(w, out)
}

// webhookSummary is one cell: each webhook's status, with the last error of a failure.
func webhookSummary(ds []notify.Delivery) string {
	if len(ds) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		p := d.Status
		if d.Status == notify.StatusFailed {
			p = fmt.Sprintf("failed after %d attempts: %s", d.Attempts, d.Error)
		}
		if len(ds) > 1 {
			p = d.URL + " " + p
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func notificationsResendCmd() *cobra.Command {
	var data string
	var failed bool
	c := &cobra.Command{
		Use:   "resend ID... | --failed",
		Short: "Deliver notifications to their webhooks again: those named, or every one whose delivery failed; a running server sends them within a second, a stopped one at its next start",
		RunE: func(cmd *cobra.Command, ids []string) error {
			if failed == (len(ids) > 0) {
				return usageError{errors.New("name the notifications to resend, or pass --failed")}
			}
			if err := requireDataDir(data); err != nil {
				return err
			}
			n, err := notify.Resend(data, ids, failed, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "asked for %d webhook deliveries\n", n)
			return nil
		},
	}
	dataFlag(c, &data)
	c.Flags().BoolVar(&failed, "failed", false, "resend every notification whose webhook delivery failed")
	return c
}
