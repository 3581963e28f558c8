package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/user"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/identity"
)

// tenantsEntitleCmd records an operator's override of one feature of one
// tenant (docs/billing.md, "Entitlements"). The operator HTTP plane comes in a
// later issue; until then this is the only way to override.
func tenantsEntitleCmd() *cobra.Command {
	be := &backendFlags{}
	var tenant, feature, limit, reason string
	var allow, deny, clear bool
	c := &cobra.Command{
		Use:   "entitle --tenant ID --feature F (--limit N|--allow|--deny|--clear) --reason TEXT",
		Short: "Override one feature of a tenant's plan: grant, deny, set its limit or clear the override (on sqlite the server must be stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, set := range []bool{limit != "", allow, deny, clear} {
				if set {
					n++
				}
			}
			if n != 1 {
				return usageError{errors.New("give exactly one of --limit N, --allow, --deny, --clear")}
			}
			action := billing.OverrideAllow
			var lim *decimal.Decimal
			switch {
			case limit != "":
				d, err := decimal.NewFromString(limit)
				if err != nil {
					return usageError{fmt.Errorf("--limit: want a non-negative number: %w", err)}
				}
				action, lim = billing.OverrideLimit, &d
			case deny:
				action = billing.OverrideDeny
			case clear:
				action = billing.OverrideClear
			}
			app, err := be.open(cmd, toolOptions{exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			out, err := app.Service.Entitle(cmd.Context(), operatorMeta(), tenant, feature, action, lim, reason)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return app.CatchUp(cmd.Context())
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "the tenant id (required)")
	c.Flags().StringVar(&feature, "feature", "", "the feature (required)")
	c.Flags().StringVar(&limit, "limit", "", "set the feature's limit")
	c.Flags().BoolVar(&allow, "allow", false, "grant the feature (a limit lifted)")
	c.Flags().BoolVar(&deny, "deny", false, "withhold the feature (a limit of 0, metered actions refused)")
	c.Flags().BoolVar(&clear, "clear", false, "remove the override: the plan decides again")
	c.Flags().StringVar(&reason, "reason", "", "why, recorded with the override (required)")
	_ = c.MarkFlagRequired("tenant")
	_ = c.MarkFlagRequired("feature")
	_ = c.MarkFlagRequired("reason")
	be.add(c)
	return c
}

// operatorMeta is the platform admin an operator command acts as; the actor
// it records names the operating system user, so an override says who made it.
func operatorMeta() commands.Meta {
	name := "operator"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "operator:" + u.Username
	}
	return commands.Meta{Principal: identity.Principal{UserID: name, Roles: []string{identity.RolePlatformAdmin}}}
}
