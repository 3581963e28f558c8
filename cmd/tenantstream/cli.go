package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses: 0 success, 1 a runtime failure (or an audit mismatch, as
// docs/api.md says), 2 a usage error (an unknown command or flag, wrong
// arguments), so scripts can tell "you called it wrong" from "it failed".
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitStatusOf is the status main exits with for err (nil: 0).
func exitStatusOf(err error) int {
	var exit exitCode
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return int(exit)
	case errors.As(err, &usage):
		return exitUsage
	}
	return exitFailure
}

// strictCommands makes every command of the tree refuse what it does not know:
// a flag error and a wrong number of arguments are usage errors, and a command
// group given an unknown subcommand says so (cobra otherwise prints the group's
// help and exits 0).
func strictCommands(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q; run %q for the list", args[0], cmd.CommandPath(), cmd.CommandPath()+" --help")}
			}
			return cmd.Help()
		}
	}
	for _, sub := range c.Commands() {
		strictCommands(sub)
	}
}

// version is the build's module version and VCS revision, from the build info
// the Go toolchain embeds.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	parts := []string{v}
	if rev != "" {
		parts = append(parts, rev+modified)
	}
	parts = append(parts, bi.GoVersion)
	return strings.Join(parts, " ")
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "tenantstream", version())
			return err
		},
	}
}

// requireDataDir fails clearly when a command that reads a data directory is
// pointed at one that does not exist (instead of answering from nothing).
func requireDataDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no data directory %s (run tenantstream serve first, or pass --data)", dir)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory (pass --data)", dir)
	}
	return nil
}
