package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// parseNDJSON decodes one envelope a line.
func parseNDJSON(b []byte) ([]events.Event, error) {
	var out []events.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// importBatches groups events, kept in their store order, into appends: a run
// of consecutive events of one stream with the same metadata, at most limit,
// each at the version the stream is at. It refuses a stream whose versions
// are not 1, 2, 3... in order, or an event of another tenant.
func importBatches(evs []events.Event, tid events.TenantID, limit int) ([]events.AppendRequest, error) {
	var out []events.AppendRequest
	at := map[events.StreamID]int64{}
	for _, e := range evs {
		if e.TenantID != tid {
			return nil, fmt.Errorf("event %s belongs to tenant %q, not %q", e.ID, e.TenantID, tid)
		}
		if e.Version != at[e.StreamID]+1 {
			return nil, fmt.Errorf("event %s: stream %s version %d follows %d", e.ID, e.StreamID, e.Version, at[e.StreamID])
		}
		at[e.StreamID] = e.Version
		ne := events.NewEvent{ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, OccurredAt: e.OccurredAt, Data: e.Data}
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.Stream == e.StreamID && last.StreamType == e.StreamType && last.CorrelationID == e.CorrelationID &&
				last.CausationID == e.CausationID && last.Actor == e.Actor && len(last.Events) < limit {
				last.Events = append(last.Events, ne)
				continue
			}
		}
		out = append(out, events.AppendRequest{Tenant: tid, Stream: e.StreamID, StreamType: e.StreamType, Expected: events.Exactly(e.Version - 1),
			CorrelationID: e.CorrelationID, CausationID: e.CausationID, Actor: e.Actor, Events: []events.NewEvent{ne}})
	}
	return out, nil
}

// checkImport refuses an archive that does not describe one onboarded tenant
// consistently: a tenant id that is not a generated one (the platform's own
// streams must never be imported), a reservation of another name or for
// another tenant, or a history without that tenant's onboarding.
func checkImport(m exportManifest, evs []events.Event, res events.Event) error {
	if u, err := uuid.Parse(m.TenantID); err != nil || u.String() != m.TenantID {
		return fmt.Errorf("tenant id %q is not a tenant's id", m.TenantID)
	}
	if res.TenantID != projections.PlatformTenant || res.StreamID != events.StreamID(tenant.NameStreamID(m.TenantName)) || res.Type != "tenant.name_reserved" {
		return fmt.Errorf("%s is not the reservation of %q", exportPlatformFile, m.TenantName)
	}
	r, err := events.DecodeAs[tenant.NameReserved](schema.Registry, res)
	if err != nil || r.TenantID != m.TenantID || r.Name != m.TenantName {
		return fmt.Errorf("%s does not reserve %q for tenant %s", exportPlatformFile, m.TenantName, m.TenantID)
	}
	for _, e := range evs {
		if e.StreamID == tenant.StreamID && e.Version == 1 {
			o, err := events.DecodeAs[tenant.Onboarded](schema.Registry, e)
			if err != nil || o.Name != m.TenantName || o.TenantID != m.TenantID {
				return fmt.Errorf("the tenant's first profile event is not its onboarding as %q", m.TenantName)
			}
			return nil
		}
	}
	return fmt.Errorf("no onboarding of tenant %s in %s", m.TenantID, exportEventsFile)
}

func tenantsImportCmd() *cobra.Command {
	be := &backendFlags{}
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Append a tenant's history from an export archive to this store, ids and business times kept; its users must reset their passwords (sqlite: the server must be stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if be.kind != backendSQLite {
				return usageError{fmt.Errorf("import works on --backend %s", backendSQLite)}
			}
			m, files, err := readArchive(args[0])
			if err != nil {
				return err
			}
			tid := events.TenantID(m.TenantID)
			evs, err := parseNDJSON(files[exportEventsFile])
			if err != nil {
				return usageError{fmt.Errorf("%s: %s: %w", args[0], exportEventsFile, err)}
			}
			plat, err := parseNDJSON(files[exportPlatformFile])
			if err != nil {
				return usageError{fmt.Errorf("%s: %s: %w", args[0], exportPlatformFile, err)}
			}
			if len(evs) != m.Files[exportEventsFile].Events || len(plat) != 1 {
				return usageError{fmt.Errorf("%s: the event counts do not match the manifest", args[0])}
			}
			batches, err := importBatches(evs, tid, events.DefaultLimits.MaxEventsPerAppend)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", args[0], err)}
			}
			if err := checkImport(m, evs, plat[0]); err != nil {
				return usageError{fmt.Errorf("%s: %w", args[0], err)}
			}
			res := plat[0]
			app, err := be.open(cmd, toolOptions{exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			ctx := events.WithoutTenantScope(cmd.Context())
			p, err := app.Store.ReadTenant(ctx, tid, "", events.ReadOptions{Limit: 1})
			if err != nil {
				return err
			}
			if len(p.Events) > 0 {
				return usageError{fmt.Errorf("tenant %s already exists in %s: import refuses to merge histories", tid, be.data)}
			}
			// The name first, as onboarding does: NoStream refuses a name taken here.
			_, err = app.Store.Append(ctx, events.AppendRequest{Tenant: projections.PlatformTenant, Stream: res.StreamID, StreamType: res.StreamType,
				Expected: events.NoStream, CorrelationID: res.CorrelationID, CausationID: res.CausationID, Actor: res.Actor,
				Events: []events.NewEvent{{ID: res.ID, Type: res.Type, SchemaVersion: res.SchemaVersion, OccurredAt: res.OccurredAt, Data: res.Data}}})
			if err != nil {
				if errors.Is(err, events.ErrConcurrency) {
					return usageError{fmt.Errorf("the tenant name %q is taken in %s", m.TenantName, be.data)}
				}
				return fmt.Errorf("reserve the tenant name: %w", err)
			}
			for _, b := range batches {
				if _, err := app.Store.Append(ctx, b); err != nil {
					return fmt.Errorf("append %s at version %d: %w", b.Stream, b.Expected, err)
				}
			}
			if err := app.CatchUp(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s (%s): %d events imported in %d appends; its users must reset their passwords\n",
				tid, m.TenantName, len(evs), len(batches))
			return nil
		},
	}
	be.add(c)
	return c
}
