package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/identity"
)

func tenantsCmd() *cobra.Command {
	c := &cobra.Command{Use: "tenants", Short: "Operate on tenants' subscriptions"}
	c.AddCommand(tenantsMigrateCmd(), tenantsEntitleCmd(), tenantsEraseCmd(), tenantsExportCmd(), tenantsImportCmd())
	return c
}

// tenantsMigrateCmd moves a tenant to another version of its plan: a plan
// change with normal proration (docs/billing.md, "Plan versions").
func tenantsMigrateCmd() *cobra.Command {
	be := &backendFlags{}
	var tenant, plan, at string
	var version int
	c := &cobra.Command{
		Use:   "migrate --tenant ID --plan ID [--to-version N] [--at TIME]",
		Short: "Move a tenant to another version of its plan (default: the latest), prorated like a plan change (on sqlite the server must be stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var when time.Time
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageError{fmt.Errorf("--at: want RFC 3339, such as 2026-12-15T00:00:00Z: %w", err)}
				}
				when = t
			}
			app, err := be.open(cmd, toolOptions{exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			operator := commands.Meta{Principal: identity.Principal{UserID: "operator", Roles: []string{identity.RolePlatformAdmin}}}
			t, err := app.Service.MigratePlan(cmd.Context(), operator, tenant, plan, version, when)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s is on %s v%d from %s\n", t.ID, t.Plan, t.PlanVersion, t.UpdatedAt.UTC().Format(time.RFC3339))
			return app.CatchUp(cmd.Context())
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "the tenant id (required)")
	c.Flags().StringVar(&plan, "plan", "", "the plan the tenant is on (required)")
	c.Flags().IntVar(&version, "to-version", 0, "the plan version to move to (default: the latest)")
	c.Flags().StringVar(&at, "at", "", "when the migration takes effect, RFC 3339 (default: now)")
	_ = c.MarkFlagRequired("tenant")
	_ = c.MarkFlagRequired("plan")
	be.add(c)
	return c
}
