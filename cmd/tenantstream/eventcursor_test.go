package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/cursorseal"
)

type eventLogPage struct {
	Events []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"events"`
	Next string `json:"next"`
	More bool   `json:"more"`
}

func (s *testServer) eventLog(t *testing.T, tenantID, token, after string, limit int) eventLogPage {
	t.Helper()
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	r := s.do(http.MethodGet, "/tenants/"+tenantID+"/events?"+q.Encode(), token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var p eventLogPage
	r.Decode(t, &p)
	return p
}

// The sealing key is kept in the data directory (mode 0600), so an
// event-log cursor handed out before a restart resumes at the same place after
// it, and the tail cursor still picks up what the new process appends.
func TestEventLogCursorsSurviveARestart(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, Config{})
	r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": acmeName, "email": acmeEmail, "password": acmePassword})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	tenantID, _ := r.JSON(t)["tenant_id"].(string)
	require.NotEmpty(t, tenantID)
	token, _ := srv.login(acmeName, acmeEmail, acmePassword)
	for i := range 3 {
		r = srv.do(http.MethodPut, fmt.Sprintf("/tenants/%s/data/doc-%d", tenantID, i), token, map[string]int{"n": i})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}
	first := srv.eventLog(t, tenantID, token, "", 2)
	require.True(t, first.More)
	second := srv.eventLog(t, tenantID, token, first.Next, 2)
	require.NotEmpty(t, second.Events)
	seen := map[string]bool{}
	for _, p := range []eventLogPage{first, second} {
		for _, e := range p.Events {
			seen[e.ID] = true
		}
	}
	tail := second
	for tail.More {
		tail = srv.eventLog(t, tenantID, token, tail.Next, 100)
		for _, e := range tail.Events {
			seen[e.ID] = true
		}
	}
	srv.Stop()

	fi, err := os.Stat(filepath.Join(data, cursorseal.KeyFile))
	require.NoError(t, err, "the key is in the data directory")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	srv = startServer(t, data, Config{})
	token, _ = srv.login(acmeName, acmeEmail, acmePassword)
	again := srv.eventLog(t, tenantID, token, first.Next, 2)
	assert.Equal(t, second.Events, again.Events, "a cursor from before the restart resumes at the same event")
	assert.Equal(t, second.More, again.More)

	r = srv.do(http.MethodPut, "/tenants/"+tenantID+"/data/after-restart", token, map[string]int{"n": 9})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	// The old tail cursor resumes after everything read before the restart:
	// the usage the shutdown flushed, then the new append.
	later := srv.eventLog(t, tenantID, token, tail.Next, 100)
	require.NotEmpty(t, later.Events, "the old tail cursor sees the new append")
	for _, e := range later.Events {
		assert.False(t, seen[e.ID], "event %s (%s) was read before the restart", e.ID, e.Type)
	}
	assert.Equal(t, "item.put", later.Events[len(later.Events)-1].Type)
	assert.False(t, later.More)
}
