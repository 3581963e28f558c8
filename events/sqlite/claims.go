package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/tenantstream/tenantstream/events"
)

var _ events.KeyClaimer = (*Store)(nil)

// claimChunk is how many keys one statement checks or inserts; statements are
// prepared per chunk size, so a thousand keys cost a handful of round trips
// instead of a thousand.
var claimSizes = []int{256, 64, 16, 4, 1}

// claimStmts caches the multi-key statements of one connection by chunk size.
type claimStmts struct {
	sel, ins map[int]driver.Stmt
}

func (cs *claimStmts) get(c *sqlite3.SQLiteConn, insert bool, n int) (driver.Stmt, error) {
	m := &cs.sel
	if insert {
		m = &cs.ins
	}
	if *m == nil {
		*m = map[int]driver.Stmt{}
	}
	if st, ok := (*m)[n]; ok {
		return st, nil
	}
	var q string
	if insert {
		q = "INSERT INTO claimed_keys (tenant, key) VALUES " + strings.TrimSuffix(strings.Repeat("(?1, ?), ", n), ", ") + " ON CONFLICT DO NOTHING"
	} else {
		q = "SELECT key FROM claimed_keys WHERE tenant = ?1 AND key IN (" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	}
	st, err := c.Prepare(q)
	if err != nil {
		return nil, fmt.Errorf("prepare claim statement: %w", err)
	}
	(*m)[n] = st
	return st, nil
}

func (cs *claimStmts) close() {
	for _, m := range []map[int]driver.Stmt{cs.sel, cs.ins} {
		for _, st := range m {
			_ = st.Close()
		}
	}
}

// forChunks calls fn with keys in chunks of the prepared sizes.
func forChunks(keys []string, fn func(chunk []string) error) error {
	for len(keys) > 0 {
		k := 0
		for claimSizes[k] > len(keys) {
			k++
		}
		if err := fn(keys[:claimSizes[k]]); err != nil {
			return err
		}
		keys = keys[claimSizes[k]:]
	}
	return nil
}

func claimArgs(tenant events.TenantID, chunk []string) []driver.NamedValue {
	args := make([]driver.NamedValue, 0, len(chunk)+1)
	args = append(args, driver.NamedValue{Ordinal: 1, Value: string(tenant)})
	for i, k := range chunk {
		args = append(args, driver.NamedValue{Ordinal: i + 2, Value: k})
	}
	return args
}

// claimed returns which keys the tenant already claimed, through statements of c.
func claimed(ctx context.Context, c *sqlite3.SQLiteConn, cs *claimStmts, tenant events.TenantID, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	vals := make([]driver.Value, 1)
	err := forChunks(keys, func(chunk []string) error {
		st, err := cs.get(c, false, len(chunk))
		if err != nil {
			return err
		}
		rows, err := stmtQuery(ctx, st, claimArgs(tenant, chunk))
		if err != nil {
			return fmt.Errorf("read claimed keys: %w", err)
		}
		defer rows.Close()
		for {
			err := rows.Next(vals)
			if isEOF(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read claimed keys: %w", err)
			}
			if k, ok := vals[0].(string); ok {
				out[k] = true
			} else if b, ok := vals[0].([]byte); ok {
				out[string(b)] = true
			}
		}
	})
	return out, err
}

// ClaimedKeys implements events.KeyClaimer on a read connection.
func (s *Store) ClaimedKeys(ctx context.Context, tenant events.TenantID, keys []string) (map[string]bool, error) {
	if err := tenant.Validate(); err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	rc, err := s.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	defer s.release(rc)
	// Background: the driver would otherwise start a goroutine per statement to
	// watch ctx; the query is short and ctx was checked on acquire.
	out, err := claimed(context.Background(), rc.c, &rc.claims, tenant, keys)
	if err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	return out, nil
}

// claimKeys records an append's claim keys inside the writer's transaction.
// The insert itself detects keys claimed before (ON CONFLICT DO NOTHING affects
// fewer rows); the append's claims then roll back to a savepoint and the append
// fails alone with ErrKeyClaimed, so the common case costs one statement per
// chunk instead of a lookup and an insert.
func (s *Store) claimKeys(req *events.AppendRequest, batch map[idemKey]bool) error {
	for _, k := range req.ClaimKeys {
		if batch[idemKey{req.Tenant, k}] {
			return &opFailure{fmt.Errorf("key %q: %w", k, events.ErrKeyClaimed)}
		}
	}
	if _, err := s.writer.Exec("SAVEPOINT claims", nil); err != nil {
		return fmt.Errorf("claim keys: %w", err)
	}
	conflict := false
	err := forChunks(req.ClaimKeys, func(chunk []string) error {
		st, err := s.wstmt.claims.get(s.writer, true, len(chunk))
		if err != nil {
			return err
		}
		res, err := stmtExec(st, claimArgs(req.Tenant, chunk))
		if err != nil {
			return fmt.Errorf("record claim keys: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
			conflict = true
			return errStopClaims
		}
		return nil
	})
	if err != nil && err != errStopClaims {
		return err
	}
	if conflict {
		if _, err := s.writer.Exec("ROLLBACK TO claims; RELEASE claims", nil); err != nil {
			return fmt.Errorf("claim keys: %w", err)
		}
		return &opFailure{fmt.Errorf("a key of %d: %w", len(req.ClaimKeys), events.ErrKeyClaimed)}
	}
	if _, err := s.writer.Exec("RELEASE claims", nil); err != nil {
		return fmt.Errorf("claim keys: %w", err)
	}
	for _, k := range req.ClaimKeys {
		batch[idemKey{req.Tenant, k}] = true
	}
	return nil
}

var errStopClaims = fmt.Errorf("stop")
