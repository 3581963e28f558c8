package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// The commands live one group to a file: serve.go, billing_cmd.go,
// projections_cmd.go, notifications_cmd.go, catalog.go and cli.go (version and
// exit statuses); backend.go opens the platform the billing and projections
// commands work on.

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	var exit exitCode
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "tenantstream:", err)
	}
	os.Exit(exitStatusOf(err))
}

// exitCode ends the program with a status but no error message (the audit's 1).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "tenantstream",
		Short:         "Event-sourced multi-tenant SaaS backend",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.Version = version()
	root.SetVersionTemplate("tenantstream {{.Version}}\n")
	root.AddCommand(serveCmd(), billingCmd(), projectionsCmd(), notificationsCmd(), catalogCmd(), tenantsCmd(), operatorCmd(), versionCmd())
	strictCommands(root)
	return root
}

// printJSON writes v as indented JSON, the --json output of every command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
