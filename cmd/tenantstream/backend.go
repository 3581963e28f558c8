package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
)

// The backends the billing and projections commands work on.
const (
	backendSQLite   = "sqlite"
	backendDynamoDB = "dynamodb"
)

// backendFlags say where an operator command finds the platform: the local
// data directory (sqlite) or the AWS tables (dynamodb). The AWS defaults are
// the variables the functions read (docs/aws.md).
type backendFlags struct {
	data, kind, region, events, readModels, endpoint string
	settle, fence                                    time.Duration
}

// awsFlags are the flags that only mean something with --backend dynamodb.
var awsFlags = []string{"region", "events-table", "readmodels-table", "endpoint-url", "settle-window", "generation-fence"}

func (b *backendFlags) add(c *cobra.Command) {
	dataFlag(c, &b.data)
	f := c.Flags()
	f.StringVar(&b.kind, "backend", backendSQLite, "where the platform's data is: sqlite (the --data directory) or dynamodb (the AWS tables)")
	f.StringVar(&b.region, "region", os.Getenv("AWS_REGION"), "dynamodb: AWS region (default $AWS_REGION, else the AWS profile's)")
	f.StringVar(&b.events, "events-table", os.Getenv("TENANTSTREAM_EVENTS_TABLE"), "dynamodb: the events table (default $TENANTSTREAM_EVENTS_TABLE)")
	f.StringVar(&b.readModels, "readmodels-table", os.Getenv("TENANTSTREAM_READMODELS_TABLE"), "dynamodb: the read-model table (default $TENANTSTREAM_READMODELS_TABLE)")
	f.StringVar(&b.endpoint, "endpoint-url", os.Getenv("AWS_ENDPOINT_URL"), "dynamodb: send AWS calls to this URL, such as a local DynamoDB or moto (default $AWS_ENDPOINT_URL)")
	f.DurationVar(&b.settle, "settle-window", 0, "dynamodb: how long an event may take to appear in the tenant-history index; a rebuild waits it out after switching (default 5s)")
	f.DurationVar(&b.fence, "generation-fence", 0, "dynamodb: how long projectors reuse a generation state; a rebuild waits it out after switching too (default 30s, the functions'; never set it lower than theirs)")
}

// opened is the platform an operator command works on, on either backend, so
// each command has one body.
type opened struct {
	*wire.Platform
	// CatchUp applies new events to the local projections. On DynamoDB the
	// pipe and the projector functions feed them, and next to a running
	// server the server does, so it does nothing.
	CatchUp func(context.Context) error
	Close   func() error
	// Scrub removes what an erased tenant left in local files (SQLite free
	// pages and logs, delivered notifications); nil where there are none.
	Scrub func(ctx context.Context, tenant string) (string, error)
}

func nothingToCatchUp(context.Context) error { return nil }

// toolOptions are what a command needs of the platform it opens.
type toolOptions struct {
	catalogFile     string
	grace           time.Duration // how long after its end a period may be closed; 0: commands.DefaultGrace
	usageWindowDays int           // how far back usage may be dated; 0: commands.UsageMaxAgeDays
	auditReadModel  bool          // audits also compare the ledgers read model
	// exclusive (sqlite) locks the data directory, so the server must be stopped
	// (the writing commands first try a running server: sendToServer),
	// and brings the projections up to date first; otherwise the store is
	// opened for reading next to a running server.
	exclusive bool
}

// open opens the backend the flags name for cmd.
func (b *backendFlags) open(cmd *cobra.Command, o toolOptions) (*opened, error) {
	ctx := cmd.Context()
	switch b.kind {
	case backendSQLite:
		for _, name := range awsFlags {
			if cmd.Flags().Changed(name) {
				return nil, usageError{fmt.Errorf("--%s applies to --backend %s only", name, backendDynamoDB)}
			}
		}
		if _, err := os.Stat(filepath.Join(b.data, "events.db")); err != nil {
			return nil, fmt.Errorf("no event store in %s (run tenantstream serve first, or pass --data)", b.data)
		}
		if o.exclusive {
			app, err := OpenApp(ctx, Config{DataDir: b.data, CatalogFile: o.catalogFile, Grace: o.grace, UsageWindowDays: o.usageWindowDays,
				Operator: true, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err != nil {
				return nil, err
			}
			if err := app.CatchUp(ctx); err != nil {
				app.Close()
				return nil, err
			}
			return &opened{Platform: app.Platform, CatchUp: app.CatchUp, Close: app.Close, Scrub: app.scrubErased}, nil
		}
		cat, err := loadCatalog(o.catalogFile)
		if err != nil {
			return nil, err
		}
		clk, _, err := dataDirClock(b.data, false, true, time.Time{})
		if err != nil {
			return nil, err
		}
		local, err := openLocal(ctx, b.data, clk, true)
		if err != nil {
			return nil, err
		}
		p, err := wire.Open(ctx, wire.Options{Events: local.Events, ReadModels: local.ReadModels, Keys: local.Keys, Catalog: cat, Clock: clk,
			Grace: o.grace, UsageWindow: usageWindow(o.usageWindowDays), AuditReadModel: o.auditReadModel})
		if err != nil {
			local.Close()
			return nil, err
		}
		return &opened{Platform: p, CatchUp: nothingToCatchUp, Close: local.Close}, nil
	case backendDynamoDB:
		if cmd.Flags().Changed("data") {
			return nil, usageError{fmt.Errorf("--data applies to --backend %s only", backendSQLite)}
		}
		if b.events == "" {
			return nil, usageError{fmt.Errorf("--backend %s needs --events-table (or TENANTSTREAM_EVENTS_TABLE)", backendDynamoDB)}
		}
		if b.readModels == "" {
			return nil, usageError{fmt.Errorf("--backend %s needs --readmodels-table (or TENANTSTREAM_READMODELS_TABLE)", backendDynamoDB)}
		}
		cat, err := loadCatalog(o.catalogFile)
		if err != nil {
			return nil, err
		}
		p, err := wire.OpenOps(ctx, wire.Options{Store: wire.StoreDynamoDB, Env: wire.Env{Region: b.region, EndpointURL: b.endpoint,
			EventsTable: b.events, ReadModelsTable: b.readModels, SettleWindow: b.settle, GenerationFence: b.fence}, Catalog: cat,
			Grace: o.grace, UsageWindow: usageWindow(o.usageWindowDays), AuditReadModel: o.auditReadModel})
		if err != nil {
			return nil, fmt.Errorf("open dynamodb: %w", err)
		}
		return &opened{Platform: p, CatchUp: nothingToCatchUp, Close: func() error { return nil }}, nil
	}
	return nil, usageError{fmt.Errorf("--backend %q: want %s or %s", b.kind, backendSQLite, backendDynamoDB)}
}

// dataFlag registers --data, the local data directory, on a command that reads it.
func dataFlag(c *cobra.Command, dir *string) {
	c.Flags().StringVar(dir, "data", "./data", "data directory")
}
