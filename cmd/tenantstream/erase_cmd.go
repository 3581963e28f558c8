package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/notify"
)

// tenantsEraseCmd erases a tenant by destroying its data keys
// (docs/data-protection.md): the server must be stopped.
func tenantsEraseCmd() *cobra.Command {
	be := &backendFlags{}
	var tenant, confirm string
	c := &cobra.Command{
		Use:   "erase --tenant ID --confirm ID",
		Short: "Erase a tenant for good by destroying its data keys: items, emails and usage properties become unreadable everywhere; issued invoices stay (sqlite: the server must be stopped)",
		Long: "Erase a tenant for good by destroying its data keys (crypto-shredding, docs/data-protection.md).\n\n" +
			"Every sealed field of the tenant's events (item data, emails, password hashes, usage property values)\n" +
			"becomes unreadable in the store and in every backup of it; envelopes, usage quantities and issued invoices\n" +
			"stay, so each issued invoice still audits. The read models are rebuilt and show the tenant erased, and the\n" +
			"read-model file and the notification files are scrubbed of what they held. There is no undo.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if confirm != tenant {
				return usageError{fmt.Errorf("--confirm must repeat the tenant id (%q): erasure cannot be undone", tenant)}
			}
			if be.kind != backendSQLite {
				return usageError{fmt.Errorf("erase works on --backend %s; on AWS see docs/data-protection.md", backendSQLite)}
			}
			app, err := be.open(cmd, toolOptions{exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			ctx := cmd.Context()
			operator := commands.Meta{Principal: identity.Principal{UserID: "operator", Roles: []string{identity.RolePlatformAdmin}}}
			var rebuilt []string
			res, err := app.EraseTenant(ctx, operator, tenant, func(name string) { rebuilt = append(rebuilt, name) })
			if err != nil {
				return err
			}
			if err := app.CatchUp(ctx); err != nil {
				return err
			}
			scrubbed := ""
			if app.Scrub != nil {
				if scrubbed, err = app.Scrub(ctx, res.TenantID); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if res.Already {
				fmt.Fprintf(out, "tenant %s was already erased at %s; keys destroyed again\n", res.TenantID, res.ErasedAt.Format("2006-01-02T15:04:05Z"))
			} else {
				fmt.Fprintf(out, "tenant %s erased at %s: data keys destroyed\n", res.TenantID, res.ErasedAt.Format("2006-01-02T15:04:05Z"))
			}
			fmt.Fprintf(out, "read models rebuilt: %s\n", strings.Join(rebuilt, ", "))
			if scrubbed != "" {
				fmt.Fprintln(out, scrubbed)
			}
			return nil
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "the tenant id (required)")
	c.Flags().StringVar(&confirm, "confirm", "", "the tenant id again (required): erasure cannot be undone")
	_ = c.MarkFlagRequired("tenant")
	_ = c.MarkFlagRequired("confirm")
	be.add(c)
	return c
}

// scrubErased removes what an erased tenant left in the data directory's files
// after the rebuild: the read models' deleted rows (VACUUM, then the WAL
// emptied) and its lines in the notification files. The event store holds
// nothing to scrub: its sealed fields were never in clear there.
func (a *App) scrubErased(ctx context.Context, tenant string) (string, error) {
	if err := a.ReadModels.Scrub(ctx); err != nil {
		return "", err
	}
	n, err := notify.ScrubTenant(a.cfg.DataDir, tenant)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("scrubbed: readmodels.db (vacuumed, WAL emptied), %d notification lines", n), nil
}
