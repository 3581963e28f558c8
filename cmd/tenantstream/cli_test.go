package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/catalog"
)

// TestCLIHabits: a version, a usage error is exit 2, a runtime failure exit 1,
// an unknown subcommand is an error, and a missing data directory says so.
func TestCLIHabits(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nothing-here")
	tests := []struct {
		name    string
		args    []string
		code    int
		errText string
		stdout  string
	}{
		{"version command", []string{"version"}, 0, "", "tenantstream "},
		{"--version", []string{"--version"}, 0, "", "tenantstream "},
		{"unknown top-level command", []string{"nosuch"}, 2, `unknown command "nosuch"`, ""},
		{"unknown subcommand of a group", []string{"catalog", "nosuch"}, 2, `unknown command "nosuch" for "tenantstream catalog"`, ""},
		{"unknown subcommand of billing", []string{"billing", "nosuch"}, 2, `unknown command "nosuch"`, ""},
		{"unknown flag", []string{"billing", "close", "--nosuch"}, 2, "unknown flag", ""},
		{"missing argument", []string{"catalog", "check"}, 2, "accepts 1 arg", ""},
		{"extra argument", []string{"version", "x"}, 2, "unknown command", ""},
		{"a group without a subcommand shows help", []string{"catalog"}, 0, "", "Usage:"},
		{"notifications of a missing data directory", []string{"notifications", "list", "--data", missing}, 1, "no data directory", ""},
		{"export of a missing data directory", []string{"tenants", "export", "--tenant", "t", "--out", filepath.Join(t.TempDir(), "a.tar.gz"), "--data", missing}, 1, "no event store", ""},
		{"import of a missing archive", []string{"tenants", "import", filepath.Join(missing, "a.tar.gz"), "--data", missing}, 2, "no such file", ""},
		{"import of something else", []string{"tenants", "import", "cli_test.go", "--data", missing}, 2, "not an export archive", ""},
		{"import without an archive", []string{"tenants", "import"}, 2, "accepts 1 arg", ""},
		{"audit of a missing data directory", []string{"billing", "audit", "--tenant", "t", "--period", "2026-01", "--data", missing}, 1, "no event store", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, tt.args...)
			assert.Equal(t, tt.code, exitStatus(err), "err %v, stdout %s", err, out)
			if tt.errText != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errText)
			}
			if tt.stdout != "" {
				assert.Contains(t, out, tt.stdout)
			}
		})
	}
	_, err := os.Stat(missing)
	assert.ErrorIs(t, err, os.ErrNotExist, "no command created the missing data directory")
}

func TestCatalogShowPrintsTheEmbeddedCatalogue(t *testing.T) {
	t.Parallel()
	out, _, err := runCLI(t, "catalog", "show")
	require.NoError(t, err)
	assert.Equal(t, string(catalog.DefaultYAML()), out)
	// What it prints is a catalogue catalog check accepts.
	f := filepath.Join(t.TempDir(), "plans.yaml")
	require.NoError(t, os.WriteFile(f, []byte(out), 0o600))
	got, _, err := runCLI(t, "catalog", "check", f)
	require.NoError(t, err)
	assert.True(t, strings.Contains(got, "valid"), got)
}

// TestQuickstartClockExampleIsInTheFuture: the banner's test-clock example is
// computed from the server's clock, so following it never gets a 400.
func TestQuickstartClockExampleIsInTheFuture(t *testing.T) {
	t.Parallel()
	for _, now := range []time.Time{
		time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 31, 23, 59, 0, 0, time.UTC),
		time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC),
	} {
		out := quickstart("127.0.0.1:8080", Config{DataDir: "data", TestClock: true}, now)
		next := time.Date(now.Year(), now.Month()+1, 1, 2, 0, 0, 0, time.UTC)
		assert.Contains(t, out, `{"now": "`+next.Format(time.RFC3339)+`"} closes `+now.Format("2006-01"), "at %s", now)
		assert.True(t, next.After(now))
	}
	assert.NotContains(t, quickstart("127.0.0.1:8080", Config{DataDir: "data"}, time.Now()), "test clock")
}
