package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// The archive of `tenants export` (docs/lifecycle.md, "Export and import").
const (
	exportFormatVersion = 1
	exportEventsFile    = "events.ndjson"   // the tenant's events, in store order
	exportPlatformFile  = "platform.ndjson" // its name reservation (platform stream)
	exportManifestFile  = "manifest.json"
	// exportMaxFileBytes bounds what import reads of one archive member.
	exportMaxFileBytes = 1 << 30
)

// exportRedacted are the data fields export drops from every event: password
// hashes and verifiers and API key secret hashes. They are secrets, and the
// archive leaves the sealed store (decision 19) in clear.
var exportRedacted = []string{"password_hash", "password_verifier", "secret_hash"}

type exportManifest struct {
	FormatVersion  int                   `json:"format_version"`
	TenantID       string                `json:"tenant_id"`
	TenantName     string                `json:"tenant_name"`
	ExportedAt     time.Time             `json:"exported_at"`
	EventTypes     map[string]int        `json:"event_types"`
	Files          map[string]exportFile `json:"files"`
	RedactedFields []string              `json:"redacted_fields"`
}

type exportFile struct {
	Events int    `json:"events"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// redact drops the exportRedacted fields from an event's data.
func redact(data json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	changed := false
	for _, f := range exportRedacted {
		if _, ok := m[f]; ok {
			delete(m, f)
			changed = true
		}
	}
	if !changed {
		return data, nil
	}
	return json.Marshal(m)
}

// ndjson encodes events one envelope a line, redacted, and counts their types.
func ndjson(evs []events.Event, types map[string]int) ([]byte, error) {
	var buf bytes.Buffer
	for _, e := range evs {
		d, err := redact(e.Data)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		e.Data = d
		line, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
		types[e.Type]++
	}
	return buf.Bytes(), nil
}

func tenantsExportCmd() *cobra.Command {
	be := &backendFlags{}
	var tid, out string
	c := &cobra.Command{
		Use:   "export --tenant ID --out FILE",
		Short: "Write a tenant's whole history, opened, to one tar.gz archive, password hashes and key secrets left out (sqlite: the server must be stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if be.kind != backendSQLite {
				return usageError{fmt.Errorf("export works on --backend %s", backendSQLite)}
			}
			app, err := be.open(cmd, toolOptions{exclusive: true})
			if err != nil {
				return err
			}
			defer app.Close()
			ctx := events.WithoutTenantScope(cmd.Context())
			var all []events.Event
			var cur events.Cursor
			for {
				p, err := app.Store.ReadTenant(ctx, events.TenantID(tid), cur, events.ReadOptions{})
				if err != nil {
					return err
				}
				all = append(all, p.Events...)
				if len(p.Events) == 0 || !p.More {
					break
				}
				cur = p.Next
			}
			var name string
			for _, e := range all {
				if e.Type == "tenant.onboarded" && e.StreamID == tenant.StreamID {
					o, err := events.DecodeAs[tenant.Onboarded](schema.Registry, e)
					if err != nil {
						return err
					}
					name = o.Name
				}
			}
			if name == "" {
				return usageError{fmt.Errorf("no onboarded tenant %q in %s", tid, be.data)}
			}
			var reservation []events.Event
			rs, err := app.Store.Load(ctx, projections.PlatformTenant, events.StreamID(tenant.NameStreamID(name)), 1)
			if err != nil {
				return fmt.Errorf("load the name reservation: %w", err)
			}
			reservation = rs[len(rs)-1:]
			files, err := buildExport(tid, name, app.Clock.Now().UTC(), all, reservation)
			if err != nil {
				return err
			}
			if err := writeArchive(out, files); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s (%s): %d events written to %s; redacted: %v\n", tid, name, len(all), out, exportRedacted)
			return nil
		},
	}
	c.Flags().StringVar(&tid, "tenant", "", "the tenant id (required)")
	c.Flags().StringVar(&out, "out", "", "the archive to write (required; must not exist)")
	_ = c.MarkFlagRequired("tenant")
	_ = c.MarkFlagRequired("out")
	be.add(c)
	return c
}

// exportOrder is the order of the archive's members: the manifest first.
var exportOrder = []string{exportManifestFile, exportEventsFile, exportPlatformFile}

// buildExport returns the archive's files, manifest included: the tenant's
// events and its name reservation, redacted, one envelope a line.
func buildExport(tid, name string, at time.Time, all, reservation []events.Event) (map[string][]byte, error) {
	m := exportManifest{FormatVersion: exportFormatVersion, TenantID: tid, TenantName: name, ExportedAt: at,
		EventTypes: map[string]int{}, Files: map[string]exportFile{}, RedactedFields: exportRedacted}
	files := map[string][]byte{}
	for _, f := range []struct {
		name string
		evs  []events.Event
	}{{exportEventsFile, all}, {exportPlatformFile, reservation}} {
		types := m.EventTypes
		if f.name == exportPlatformFile {
			types = map[string]int{} // the manifest counts the tenant's own events
		}
		b, err := ndjson(f.evs, types)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		files[f.name] = b
		m.Files[f.name] = exportFile{Events: len(f.evs), Bytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	files[exportManifestFile] = mb
	return files, nil
}

// encodeArchive writes the files as a tar.gz, in exportOrder.
func encodeArchive(w io.Writer, files map[string][]byte) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, n := range exportOrder {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// writeArchive writes a new archive of mode 0600 (it holds the tenant's data
// in clear), through a temporary file renamed at the end; it never overwrites.
func writeArchive(path string, files map[string][]byte) error {
	if _, err := os.Stat(path); err == nil {
		return usageError{fmt.Errorf("%s exists: export never overwrites", path)}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := encodeArchive(tmp, files); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readArchive reads an export archive and checks each file against the
// manifest; any difference is a usage error (a tampered or broken archive).
func readArchive(path string) (exportManifest, map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return exportManifest{}, nil, usageError{err}
	}
	defer f.Close()
	return parseArchive(path, f)
}

// parseArchive is readArchive on the archive's bytes; path names it in errors.
func parseArchive(path string, r io.Reader) (exportManifest, map[string][]byte, error) {
	var m exportManifest
	zr, err := gzip.NewReader(r)
	if err != nil {
		return m, nil, usageError{fmt.Errorf("%s is not an export archive: %w", path, err)}
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, nil, usageError{fmt.Errorf("%s is not an export archive: %w", path, err)}
		}
		if _, dup := files[h.Name]; dup || h.Typeflag != tar.TypeReg || h.Size > exportMaxFileBytes {
			return m, nil, usageError{fmt.Errorf("%s: unexpected member %q", path, h.Name)}
		}
		b, err := io.ReadAll(io.LimitReader(tr, exportMaxFileBytes))
		if err != nil {
			return m, nil, usageError{fmt.Errorf("%s is not an export archive: %w", path, err)}
		}
		files[h.Name] = b
	}
	if err := json.Unmarshal(files[exportManifestFile], &m); err != nil {
		return m, nil, usageError{fmt.Errorf("%s: no readable %s: %v", path, exportManifestFile, err)}
	}
	if m.FormatVersion != exportFormatVersion {
		return m, nil, usageError{fmt.Errorf("%s: format version %d, this build reads %d", path, m.FormatVersion, exportFormatVersion)}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == exportManifestFile {
			continue
		}
		if _, ok := m.Files[n]; !ok {
			return m, nil, usageError{fmt.Errorf("%s: %s is not in the manifest: the archive was tampered with", path, n)}
		}
	}
	for _, n := range []string{exportEventsFile, exportPlatformFile} {
		want, ok := m.Files[n]
		b, present := files[n]
		sum := sha256.Sum256(b)
		if !ok || !present || hex.EncodeToString(sum[:]) != want.SHA256 || int64(len(b)) != want.Bytes {
			return m, nil, usageError{fmt.Errorf("%s: checksum of %s does not match the manifest: the archive was tampered with or is incomplete", path, n)}
		}
	}
	return m, files, nil
}
