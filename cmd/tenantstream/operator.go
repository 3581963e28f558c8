package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// Operator commands on a live platform (docs/ARCHITECTURE.md, "Operations"):
// `billing close` and `projections rebuild` write, and the SQLite store assumes
// one writing process, so while `serve` holds the data-directory lock the CLI
// sends them to the server over the operator socket and the server runs them
// with its own platform. The bodies below are the one implementation both the
// CLI (server stopped) and the server (operator socket) run, so the output is
// the same either way.

// operatorSocket is the operator channel's Unix socket, inside the data directory.
const operatorSocket = "operator.sock"

// closePeriods closes period p for tenant (every tenant when empty), printing
// one line per tenant to out as it goes.
func closePeriods(ctx context.Context, out io.Writer, b *commands.Billing, s *commands.Service, tenant events.TenantID, p billing.Period) error {
	closeOne := func(t events.TenantID) error {
		res, err := b.Close(ctx, t, p)
		if err != nil {
			return fmt.Errorf("close %s for %s: %w", p, t, err)
		}
		printClosed(out, res)
		return nil
	}
	if tenant != "" {
		return closeOne(tenant)
	}
	return s.EachTenant(ctx, func(t projections.TenantSummary) error { return closeOne(events.TenantID(t.TenantID)) })
}

// rebuildProjections rebuilds each of names in turn, progress to stderr (in
// place when tty) and one "rebuilt NAME" line to stdout per projection.
func rebuildProjections(ctx context.Context, stdout, stderr io.Writer, tty bool, e *projections.Engine, names []string, tenant events.TenantID) error {
	pp := projections.NewProgressPrinter(stderr)
	pp.TTY = tty
	for _, n := range names {
		if err := e.Rebuild(ctx, n, projections.RebuildOptions{Tenant: tenant, Progress: pp.Print}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rebuilt %s\n", n)
	}
	return nil
}

// closeRequest is POST /v1/billing/close on the operator socket.
type closeRequest struct {
	Period string `json:"period"`           // YYYY-MM
	Tenant string `json:"tenant,omitempty"` // empty: every tenant
	// Grace is the CLI's --grace as a Go duration ("1h0m0s"); empty: the server's.
	Grace string `json:"grace,omitempty"`
	// Catalog is the absolute path of the CLI's --catalog, if given; the
	// server (the same user) loads it, as the CLI would.
	Catalog string `json:"catalog,omitempty"`
}

// rebuildRequest is POST /v1/projections/rebuild on the operator socket.
type rebuildRequest struct {
	Projections []string `json:"projections"`
	Tenant      string   `json:"tenant,omitempty"`
	TTY         bool     `json:"tty,omitempty"` // render progress in place, as on a terminal
}

// operatorLine is one line of an operator command's answer (NDJSON): output
// for the CLI's stdout or stderr as the command prints it, and, last, the
// command's exit status with its error message.
type operatorLine struct {
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Exit   *int   `json:"exit,omitempty"`
	Error  string `json:"error,omitempty"`
}

// operatorError is an answer refused before the command ran (4xx, 5xx).
type operatorError struct {
	Error string `json:"error"`
}

// isTerminal reports whether w is a terminal (rebuild progress is then
// rewritten in place, wherever the rebuild runs).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
