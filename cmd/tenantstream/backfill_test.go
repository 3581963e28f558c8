package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// itemPuts counts item puts per tenant: a projection "added later".
type itemPuts struct{}

func (itemPuts) Name() string      { return "zz_item_puts" }
func (itemPuts) Handles() []string { return []string{item.TypePut} }
func (itemPuts) Apply(ctx context.Context, tx projections.Tx, ev events.Event) error {
	n := 0
	raw, err := tx.Get(ctx, ev.TenantID, "puts", "count")
	switch {
	case err == nil:
		n, _ = strconv.Atoi(string(raw))
	case !errors.Is(err, projections.ErrNotFound):
		return err
	}
	return tx.Put(ctx, ev.TenantID, "puts", "count", []byte(strconv.Itoa(n+1)))
}

// serveFor serves an App on cfg.DataDir, runs fn against it over HTTP, then stops it.
func serveFor(t *testing.T, cfg Config, fn func(l *liveApp)) {
	t.Helper()
	l, stop := openLiveApp(t, cfg)
	fn(l)
	stop()
}

// TestNewProjectionIsBackfilledFromHistory: a projection added to a data
// directory with history sees that history on the next start, with no manual
// rebuild, and only once.
func TestNewProjectionIsBackfilledFromHistory(t *testing.T) {
	dir := t.TempDir()
	var acme liveTenant
	serveFor(t, Config{DataDir: dir}, func(l *liveApp) {
		acme = l.onboard(t, "acme")
		tok := l.login(t, acme).AccessToken
		for i := 0; i < 3; i++ {
			l.must(t, http.StatusOK, nil, "PUT", "/tenants/"+acme.ID+"/data/doc-"+strconv.Itoa(i), tok, map[string]int{"i": i})
		}
		l.settle(t)
	})
	withProbe := append(projections.Registered(), itemPuts{})
	count := func(l *liveApp) int {
		raw, err := l.Engine.Reader().Get(context.Background(), "zz_item_puts", events.TenantID(acme.ID), "puts", "count")
		require.NoError(t, err)
		n, err := strconv.Atoi(string(raw))
		require.NoError(t, err)
		return n
	}
	serveFor(t, Config{DataDir: dir, Projections: withProbe}, func(l *liveApp) {
		assert.Equal(t, 3, count(l), "the history before the projection existed")
		tok := l.login(t, acme).AccessToken
		l.must(t, http.StatusOK, nil, "PUT", "/tenants/"+acme.ID+"/data/doc-9", tok, json.RawMessage(`{}`))
		l.settle(t)
		assert.Equal(t, 4, count(l), "and live events after it")
	})
	serveFor(t, Config{DataDir: dir, Projections: withProbe}, func(l *liveApp) {
		assert.Equal(t, 4, count(l), "a restart does not backfill again")
	})
}
