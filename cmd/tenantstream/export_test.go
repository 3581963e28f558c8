package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// readModel lists a tenant's collection of a projection, key to value.
func readModel(t *testing.T, srv *testServer, projection, tenant, collection string) map[string]string {
	t.Helper()
	es, err := srv.App.Reader.List(t.Context(), projection, events.TenantID(tenant), collection, "", 1000)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range es {
		out[e.Key] = string(e.Value)
	}
	return out
}

// auditReport runs billing audit and returns its report.
func auditReport(t *testing.T, data, tenant, period string) map[string]any {
	t.Helper()
	out, errOut, err := runCLI(t, "billing", "audit", "--tenant", tenant, "--period", period, "--json", "--data", data)
	require.NoError(t, err, "audit %s: %s %s", period, out, errOut)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

// rewriteArchive copies an archive, changing each member with edit.
func rewriteArchive(t *testing.T, from, to string, edit func(name string, b []byte) []byte) {
	t.Helper()
	f, err := os.Open(from)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		b = edit(h.Name, b)
		h.Size = int64(len(b))
		require.NoError(t, tw.WriteHeader(h))
		_, err = tw.Write(b)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(to, buf.Bytes(), 0o600))
}

// The round trip: a tenant with items, usage and issued invoices is exported,
// imported into a fresh data directory, and has the same items, the same
// invoices, and invoices that audit there; no password hash is in the
// archive, and a tampered archive or an existing tenant is refused.
func TestTenantExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(cat, []byte(eraseCatalog), 0o600))
	srv := startServer(t, "", Config{TestClock: true, StartAt: time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC), CatalogFile: cat})
	m := markersOf("exportco")
	r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "exportco", "email": m.adminEmail, "password": acmePassword, "plan": "team"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	tid := r.JSON(t)["tenant_id"].(string)
	token, _ := srv.login("exportco", m.adminEmail, acmePassword)
	for _, id := range []string{"doc-1", "doc-2"} {
		r = srv.do(http.MethodPut, "/tenants/"+tid+"/data/"+id, token, map[string]string{"note": m.item + id})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}
	r = srv.do(http.MethodPost, "/tenants/"+tid+"/users", token, map[string]string{"email": m.memberEmail, "password": acmePassword})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-03-05T09:00:00Z"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	token, _ = srv.login("exportco", m.adminEmail, acmePassword)
	recs := []map[string]any{}
	for i, v := range []string{m.prop1, m.prop2, m.prop1} {
		recs = append(recs, map[string]any{"id": "s-" + string(rune('a'+i)), "meter": "seats", "quantity": "1", "timestamp": "2026-03-05T09:00:00Z",
			"properties": map[string]string{"user": v}})
	}
	r = srv.do(http.MethodPost, "/tenants/"+tid+"/usage", token, map[string]any{"events": recs})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	r = srv.do(http.MethodPost, "/test-clock", "", map[string]string{"now": "2026-04-01T02:00:00Z"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	srv.settle()
	items := readModel(t, srv, projections.ItemsProjection, tid, projections.ItemsCollection)
	invoices := readModel(t, srv, projections.InvoicesProjection, tid, projections.InvoicesCollection)
	require.Len(t, items, 2)
	require.Len(t, invoices, 2, "February and March are invoiced")
	srv.Stop()
	audits := map[string]map[string]any{}
	for _, p := range []string{"2026-02", "2026-03"} {
		audits[p] = auditReport(t, srv.Data, tid, p)
		require.Equal(t, true, audits[p]["match"])
	}

	archive := filepath.Join(t.TempDir(), "exportco.tar.gz")
	out, errOut, err := runCLI(t, "tenants", "export", "--tenant", tid, "--out", archive, "--data", srv.Data)
	require.NoError(t, err, "%s %s", out, errOut)
	_, _, err = runCLI(t, "tenants", "export", "--tenant", reverse(tid), "--out", archive+".x", "--data", srv.Data)
	assert.Equal(t, 2, exitStatus(err), "an unknown tenant is a usage error: %v", err)
	mf, files, err := readArchive(archive)
	require.NoError(t, err)
	assert.Equal(t, tid, mf.TenantID)
	assert.Equal(t, "exportco", mf.TenantName)
	assert.Equal(t, 2, mf.EventTypes["item.put"])
	assert.Equal(t, 2, mf.EventTypes["invoice.issued"])
	assert.Equal(t, exportRedacted, mf.RedactedFields)
	all := string(files[exportEventsFile]) + string(files[exportPlatformFile])
	assert.Contains(t, all, m.item+"doc-1", "the archive holds the opened items")
	assert.Contains(t, all, m.memberEmail, "and the opened emails")
	assert.NotContains(t, all, "_sealed")
	for _, f := range exportRedacted {
		assert.NotContains(t, all, `"`+f+`"`, "%s is left out", f)
	}
	assert.NotContains(t, all, "$argon2", "no password hash in the archive")
	_, _, err = runCLI(t, "tenants", "export", "--tenant", tid, "--out", archive, "--data", srv.Data)
	assert.Equal(t, 2, exitStatus(err), "export never overwrites")

	// Into a fresh directory.
	fresh := startServer(t, "", Config{TestClock: true, CatalogFile: cat})
	fresh.Stop()
	tampered := filepath.Join(t.TempDir(), "tampered.tar.gz")
	rewriteArchive(t, archive, tampered, func(name string, b []byte) []byte {
		if name == exportEventsFile {
			return bytes.Replace(b, []byte(m.item+"doc-1"), []byte(m.item+"doc-X"), 1)
		}
		return b
	})
	_, errOut, err = runCLI(t, "tenants", "import", tampered, "--data", fresh.Data)
	assert.Equal(t, 2, exitStatus(err), "a tampered archive is a usage error: %s", errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tampered")
	// Forged archives with consistent checksums: a reservation for another
	// tenant, the platform's own id.
	for name, forge := range map[string]func(exportManifest, map[string][]byte) (exportManifest, map[string][]byte){
		"reservation of another tenant": func(m exportManifest, f map[string][]byte) (exportManifest, map[string][]byte) {
			f[exportPlatformFile] = bytes.ReplaceAll(f[exportPlatformFile], []byte(`"tenant_id":"`+tid+`"`), []byte(`"tenant_id":"`+reverse(tid)+`"`))
			return m, f
		},
		"platform tenant": func(m exportManifest, f map[string][]byte) (exportManifest, map[string][]byte) {
			m.TenantID = string(projections.PlatformTenant)
			f[exportEventsFile] = bytes.ReplaceAll(f[exportEventsFile], []byte(`"tenant_id":"`+tid+`"`), []byte(`"tenant_id":"_platform"`))
			return m, f
		},
	} {
		m2, f2 := forge(mf, cloneFiles(files))
		rebuilt, err := buildManifest(m2, f2)
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, encodeArchive(&buf, rebuilt))
		forged := filepath.Join(t.TempDir(), "forged.tar.gz")
		require.NoError(t, os.WriteFile(forged, buf.Bytes(), 0o600))
		_, _, err = runCLI(t, "tenants", "import", forged, "--data", fresh.Data)
		assert.Equal(t, 2, exitStatus(err), "%s is refused: %v", name, err)
		want := map[string]string{"reservation of another tenant": "does not reserve", "platform tenant": "is not a tenant's id"}[name]
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
	}
	out, errOut, err = runCLI(t, "tenants", "import", archive, "--data", fresh.Data)
	require.NoError(t, err, "%s %s", out, errOut)
	assert.Contains(t, out, "must reset their passwords")
	held := filesHolding(t, fresh.Data, []string{m.item + "doc-1", m.memberEmail})
	assert.NotEmpty(t, held[m.item+"doc-1"], "the read models hold the imported item")
	for m, fs := range held {
		for _, f := range fs {
			assert.False(t, strings.HasPrefix(f, "events.db"), "%s is sealed again in the target's store, not in clear in %s", m, f)
		}
	}
	_, errOut, err = runCLI(t, "tenants", "import", archive, "--data", fresh.Data)
	assert.Equal(t, 2, exitStatus(err), "an existing tenant is refused: %s", errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already exists")
	_, errOut, err = runCLI(t, "tenants", "import", archive, "--data", srv.Data)
	assert.Equal(t, 2, exitStatus(err), "the source store has the tenant: %s", errOut)

	// A directory where another tenant holds the name refuses it.
	taken := startServer(t, "", Config{TestClock: true, CatalogFile: cat})
	r = taken.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": "exportco", "email": "other@other.test", "password": acmePassword, "plan": "team"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	taken.Stop()
	_, _, err = runCLI(t, "tenants", "import", archive, "--data", taken.Data)
	assert.Equal(t, 2, exitStatus(err), "a taken name is refused")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is taken")

	for _, p := range []string{"2026-02", "2026-03"} {
		got := auditReport(t, fresh.Data, tid, p)
		assert.Equal(t, true, got["match"], "audit %s in the new directory: %v", p, got)
		assert.Equal(t, audits[p], got, "audit %s is the same report", p)
	}
	srv2 := startServer(t, fresh.Data, Config{TestClock: true, CatalogFile: cat})
	srv2.settle()
	assert.Equal(t, items, readModel(t, srv2, projections.ItemsProjection, tid, projections.ItemsCollection))
	assert.Equal(t, invoices, readModel(t, srv2, projections.InvoicesProjection, tid, projections.InvoicesCollection))
	_, err = srv2.App.Reader.Get(t.Context(), projections.TenantsProjection, projections.PlatformTenant, projections.TenantsCollection, tid)
	assert.NoError(t, err, "the directory lists the imported tenant")
	r = srv2.do(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": "exportco", "email": m.adminEmail, "password": acmePassword})
	assert.NotEqual(t, http.StatusOK, r.Status, "no password came along: %s", r.Body)
	assert.False(t, strings.Contains(string(r.Body), "access_token"))
}

// importBatches refuses histories that would not append as they were: a gap
// or a repeat in a stream's versions, or an event of another tenant; it splits
// runs at the append limit and at a change of stream or metadata.
func TestImportBatches(t *testing.T) {
	ev := func(tenant, stream string, v int64, corr string) events.Event {
		return events.Event{ID: stream + string(rune('0'+v)), TenantID: events.TenantID(tenant), StreamID: events.StreamID(stream), StreamType: "s",
			Version: v, Type: "item.put", SchemaVersion: 1, CorrelationID: corr, Data: json.RawMessage(`{}`)}
	}
	for _, tc := range []struct {
		name    string
		evs     []events.Event
		batches []int // events per append
		err     string
	}{
		{"one stream", []events.Event{ev("t", "a", 1, "c"), ev("t", "a", 2, "c"), ev("t", "a", 3, "c")}, []int{2, 1}, ""},
		{"interleaved", []events.Event{ev("t", "a", 1, "c"), ev("t", "b", 1, "c"), ev("t", "a", 2, "c")}, []int{1, 1, 1}, ""},
		{"metadata changes", []events.Event{ev("t", "a", 1, "c"), ev("t", "a", 2, "d")}, []int{1, 1}, ""},
		{"gap", []events.Event{ev("t", "a", 1, "c"), ev("t", "a", 3, "c")}, nil, "version 3 follows 1"},
		{"not from 1", []events.Event{ev("t", "a", 2, "c")}, nil, "version 2 follows 0"},
		{"repeat", []events.Event{ev("t", "a", 1, "c"), ev("t", "a", 1, "c")}, nil, "version 1 follows 1"},
		{"other tenant", []events.Event{ev("t", "a", 1, "c"), ev("u", "a", 2, "c")}, nil, "belongs to tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := importBatches(tc.evs, "t", 2)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			var sizes []int
			for _, b := range got {
				sizes = append(sizes, len(b.Events))
			}
			assert.Equal(t, tc.batches, sizes)
			assert.Equal(t, events.NoStream, got[0].Expected)
		})
	}
}

// FuzzParseArchive: whatever the bytes, parsing an archive fails with a usage
// error or returns a manifest whose files match their checksums; it never panics.
func FuzzParseArchive(f *testing.F) {
	var buf bytes.Buffer
	files, err := buildExport("t", "n", time.Unix(0, 0).UTC(), []events.Event{{ID: "e", TenantID: "t", StreamID: "a", Version: 1, Type: "item.put",
		Data: json.RawMessage(`{"password_hash":"x","k":1}`)}}, nil)
	require.NoError(f, err)
	require.NoError(f, encodeArchive(&buf, files))
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte("\x1f\x8b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, files, err := parseArchive("fuzz", bytes.NewReader(b))
		if err != nil {
			assert.Equal(t, 2, exitStatus(err), "%v", err)
			return
		}
		_, err = parseNDJSON(files[exportEventsFile])
		_ = err
	})
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func cloneFiles(f map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range f {
		out[k] = bytes.Clone(v)
	}
	return out
}

// buildManifest rewrites the manifest of files from m, with the checksums of
// the files as they are: what a forger who edits the archive would do.
func buildManifest(m exportManifest, f map[string][]byte) (map[string][]byte, error) {
	m.Files = map[string]exportFile{}
	for _, n := range []string{exportEventsFile, exportPlatformFile} {
		sum := sha256.Sum256(f[n])
		m.Files[n] = exportFile{Events: bytes.Count(f[n], []byte("\n")), Bytes: int64(len(f[n])), SHA256: hex.EncodeToString(sum[:])}
	}
	b, err := json.Marshal(m)
	f[exportManifestFile] = b
	return f, err
}
