package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ScrubTenant removes a tenant's notifications from the data directory's
// delivered notifications and from the webhook deliveries ledger, which hold
// them in clear (an onboarding's admin email, an invitation's address): an
// erasure scrubs them after destroying the tenant's keys (docs/ARCHITECTURE.md,
// decision 19). Each file is rewritten through a synced temporary file
// renamed into place. The dispatcher must not be running. It returns how many
// lines it removed.
func ScrubTenant(dir, tenant string) (int, error) {
	ids := map[string]bool{}
	n, err := rewriteLines(FilePath(dir), func(line []byte) bool {
		var v struct {
			ID       string `json:"id"`
			TenantID string `json:"tenant_id"`
		}
		if json.Unmarshal(line, &v) == nil && v.TenantID == tenant {
			ids[v.ID] = true
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	m, err := rewriteLines(filepath.Join(dir, deliveriesName), func(line []byte) bool {
		var d struct {
			ID   string `json:"id"`
			Body struct {
				TenantID string `json:"tenant_id"`
			} `json:"body"`
		}
		if json.Unmarshal(line, &d) == nil && (ids[d.ID] || d.Body.TenantID == tenant) {
			ids[d.ID] = true
			return false
		}
		return true
	})
	return n + m, err
}

// rewriteLines keeps the lines of path for which keep is true; a missing file
// is left missing.
func rewriteLines(path string, keep func([]byte) bool) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	var out bytes.Buffer
	removed := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) > 0 && !keep(line) {
			removed++
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	if removed == 0 {
		return 0, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".scrub-*")
	if err != nil {
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("scrub %s: %w", filepath.Base(path), err)
	}
	return removed, nil
}
