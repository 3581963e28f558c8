package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// The operator plane from the command line (docs/lifecycle.md): `operator
// token` mints an operator token from the data directory's operator key (only
// its owner can read it), and `operator tenants ...` call the /admin/ routes
// of a running server with such a token.

func operatorCmd() *cobra.Command {
	c := &cobra.Command{Use: "operator", Short: "Operate the platform: operator tokens and the /admin/ routes of a running server"}
	c.AddCommand(operatorTokenCmd(), operatorTenantsCmd())
	return c
}

func operatorTokenCmd() *cobra.Command {
	var dir, name string
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "token --data DIR --name NAME [--ttl 1h]",
		Short: "Mint a short-lived platform_admin token with the data directory's operator key (the directory's owner only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDataDir(dir); err != nil {
				return err
			}
			if err := identity.ValidateOperatorName(name); err != nil {
				return usageError{fmt.Errorf("--name: %w", err)}
			}
			if ttl < time.Minute || ttl > identity.MaxOperatorTTL {
				return usageError{fmt.Errorf("--ttl: must be from 1m to %s", identity.MaxOperatorTTL)}
			}
			key, err := identity.LoadOrCreateOperatorKey(dir)
			if err != nil {
				return err
			}
			// The server checks tokens on the directory's clock (the test
			// clock, when it ran on one), so the token is dated on it too.
			clk, _, err := dataDirClock(dir, false, true, time.Time{})
			if err != nil {
				return err
			}
			tok, exp, err := key.Mint(name, ttl, clk.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "operator %s, valid until %s\n", name, exp.UTC().Format(time.RFC3339))
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "./data", "the data directory")
	c.Flags().StringVar(&name, "name", "", "who you are: the actor of every action taken with the token (required)")
	c.Flags().DurationVar(&ttl, "ttl", identity.DefaultOperatorTTL, "how long the token lasts (at most 12h)")
	_ = c.MarkFlagRequired("name")
	return c
}

// adminClient calls the /admin/ routes of a server.
type adminClient struct {
	server, token string
	http          *http.Client
}

type adminFlags struct {
	server, token string
}

func (f *adminFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.server, "server", "http://localhost:8080", "the server's base URL")
	c.Flags().StringVar(&f.token, "token", "", "an operator token (default: $TENANTSTREAM_OPERATOR_TOKEN)")
}

func (f *adminFlags) client() (*adminClient, error) {
	tok := f.token
	if tok == "" {
		tok = os.Getenv("TENANTSTREAM_OPERATOR_TOKEN")
	}
	if tok == "" {
		return nil, usageError{errors.New("--token (or TENANTSTREAM_OPERATOR_TOKEN) is required: mint one with `tenantstream operator token`")}
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--server %q: want an http(s) URL such as http://localhost:8080", f.server)}
	}
	return &adminClient{server: strings.TrimRight(f.server, "/"), token: tok, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// call sends one request and decodes a 2xx answer into out; any other answer
// is an error carrying the problem's detail.
func (c *adminClient) call(ctx context.Context, method, path string, body any, out any, headers ...string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var p problem.Problem
		if json.Unmarshal(raw, &p) == nil && p.Detail != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, res.StatusCode, p.Code, p.Detail)
		}
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

func operatorTenantsCmd() *cobra.Command {
	c := &cobra.Command{Use: "tenants", Short: "List, show, suspend, reactivate and offboard tenants on a running server"}
	c.AddCommand(operatorListCmd(), operatorShowCmd(),
		operatorLifecycleCmd("suspend", "Suspend a tenant: its writes are refused with the reason; reads, logins and billing go on", false),
		operatorLifecycleCmd("reactivate", "Reactivate a suspended tenant", false),
		operatorLifecycleCmd("offboard", "Offboard a tenant: read-only for good, a final invoice, then billing skips it", true),
		operatorPlanCmd())
	return c
}

type tenantRow struct {
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"tenant_name"`
	Plan      string    `json:"plan"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

func operatorListCmd() *cobra.Command {
	f := &adminFlags{}
	var prefix, plan, status, after, before string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--name-prefix P] [--plan ID] [--status S] [--created-after T] [--created-before T]",
		Short: "List tenants, every page, filtered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"name_prefix": prefix, "plan": plan, "status": status, "created_after": after, "created_before": before} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", "500")
			var rows []tenantRow
			for {
				var page struct {
					Tenants    []tenantRow `json:"tenants"`
					NextCursor string      `json:"next_cursor"`
				}
				if err := cl.call(cmd.Context(), "GET", "/admin/tenants?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				rows = append(rows, page.Tenants...)
				if page.NextCursor == "" {
					break
				}
				q.Set("after", page.NextCursor)
			}
			if asJSON {
				if rows == nil {
					rows = []tenantRow{}
				}
				return printJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TENANT ID\tNAME\tPLAN\tSTATUS\tCREATED")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.TenantID, r.Name, r.Plan, r.Status, r.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&prefix, "name-prefix", "", "tenant names starting with this (any case)")
	c.Flags().StringVar(&plan, "plan", "", "tenants on this plan")
	c.Flags().StringVar(&status, "status", "", "active, suspended, offboarding or erased")
	c.Flags().StringVar(&after, "created-after", "", "created at or after this time (RFC 3339)")
	c.Flags().StringVar(&before, "created-before", "", "created before this time (RFC 3339)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	f.add(c)
	return c
}

func operatorShowCmd() *cobra.Command {
	f := &adminFlags{}
	c := &cobra.Command{
		Use:   "show TENANT_ID",
		Short: "Show a tenant's profile, state and member count",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := cl.call(cmd.Context(), "GET", "/admin/tenants/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	f.add(c)
	return c
}

func operatorLifecycleCmd(action, short string, offboard bool) *cobra.Command {
	f := &adminFlags{}
	var reason, key string
	var erase bool
	c := &cobra.Command{
		Use:   action + " TENANT_ID --reason TEXT",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			body := map[string]any{"reason": reason}
			if offboard {
				body["erase"] = erase
			}
			var out tenantRow
			if err := cl.call(cmd.Context(), "POST", "/admin/tenants/"+url.PathEscape(args[0])+"/"+action, body, &out, "Idempotency-Key", key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s (%s) is %s\n", out.TenantID, out.Name, out.Status)
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why: recorded with the change and shown to the tenant (required)")
	c.Flags().StringVar(&key, "idempotency-key", "", "an Idempotency-Key, so a retry is safe")
	if offboard {
		c.Flags().BoolVar(&erase, "erase", false, "erase the tenant's data too (501 until the server can)")
	}
	_ = c.MarkFlagRequired("reason")
	f.add(c)
	return c
}

func operatorPlanCmd() *cobra.Command {
	f := &adminFlags{}
	var plan, key string
	var version int
	c := &cobra.Command{
		Use:   "plan TENANT_ID --plan ID [--version N]",
		Short: "Move a tenant to another plan, or migrate it to a version of its plan",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			body := map[string]any{"plan": plan}
			if version > 0 {
				body["version"] = version
			}
			var out struct {
				TenantID    string `json:"tenant_id"`
				Plan        string `json:"plan"`
				PlanVersion int    `json:"plan_version"`
			}
			if err := cl.call(cmd.Context(), "PUT", "/admin/tenants/"+url.PathEscape(args[0])+"/plan", body, &out, "Idempotency-Key", key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s is on %s v%d\n", out.TenantID, out.Plan, max(out.PlanVersion, 1))
			return nil
		},
	}
	c.Flags().StringVar(&plan, "plan", "", "the plan (required)")
	c.Flags().IntVar(&version, "version", 0, "migrate to this version of the plan the tenant is on")
	c.Flags().StringVar(&key, "idempotency-key", "", "an Idempotency-Key, so a retry is safe")
	_ = c.MarkFlagRequired("plan")
	f.add(c)
	return c
}
