package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/projections"
)

// outOfRoom is one way to run a server out of space, and to give it back.
type outOfRoom struct {
	name string
	// data returns the data directory to serve from ("" for a fresh one), or skips.
	data       func(t *testing.T) string
	fill, free func(t *testing.T, srv *testServer)
}

var outOfRoomWays = []outOfRoom{
	{
		// A real SQLITE_FULL from SQLite itself, without any mount: the event
		// store's file is capped at its current size. Always available.
		name: "event store at max_page_count",
		data: func(*testing.T) string { return "" },
		fill: func(_ *testing.T, srv *testServer) { srv.App.Store.SetMaxPages(1) },
		free: func(_ *testing.T, srv *testServer) { srv.App.Store.SetMaxPages(0) },
	},
	{
		// A real full filesystem under the whole data directory (event store,
		// read models, keys): ENOSPC from the OS. Skipped, saying so, where a
		// tmpfs cannot be mounted (unprivileged CI); the case above still runs.
		name: "data directory on a full tmpfs",
		data: func(t *testing.T) string {
			dir, err := mountTmpfs(t, "16m")
			if err != nil {
				t.Skipf("cannot mount a tmpfs (%v); the max_page_count case covers disk-full", err)
			}
			return dir
		},
		fill: func(t *testing.T, srv *testServer) {
			// Leave about 256 KiB free: a hundred or so item writes.
			free, err := freeBytes(srv.Data)
			require.NoError(t, err)
			require.Greater(t, free, int64(1<<20), "the tmpfs has room to fill")
			require.NoError(t, os.WriteFile(filepath.Join(srv.Data, "filler"), make([]byte, free-256<<10), 0o644))
		},
		free: func(t *testing.T, srv *testServer) { require.NoError(t, os.Remove(filepath.Join(srv.Data, "filler"))) },
	},
}

// TestDiskFull runs a server out of space: a write answers
// 503 problem+json with Retry-After, not 500, and writes nothing; /readyz says not
// ready; reads of what was written go on answering; once space is back /readyz
// recovers with no client write (its probe), writes succeed, the projections catch
// up without parking anything, and after a restart every acknowledged item is
// there.
func TestDiskFull(t *testing.T) {
	for _, way := range outOfRoomWays {
		t.Run(way.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, way.data(t), Config{NoTenantRateLimits: true}) // thousands of writes to fill the disk
			tn := srv.live.onboard(t, "acme")
			token := srv.live.login(t, tn).AccessToken
			items := "/tenants/" + tn.ID + "/data/"
			acked := map[string]string{}
			put := func(id string) response {
				t.Helper()
				body := fmt.Sprintf(`{"id":%q,"pad":%q}`, id, strings.Repeat("x", 2000))
				r := srv.do(http.MethodPut, items+id, token, body)
				if r.Status == http.StatusOK {
					acked[id] = body
				}
				return r
			}
			for i := range 3 {
				r := put(fmt.Sprintf("before-%d", i))
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			}
			r := srv.do(http.MethodGet, "/readyz", "", nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

			way.fill(t, srv)
			var lost string
			for i := range 5000 {
				id := fmt.Sprintf("fill-%d", i)
				if r = put(id); r.Status != http.StatusOK {
					lost = id
					break
				}
			}
			require.NotEmpty(t, lost, "the store never filled up")
			p := requireProblem(t, r, http.StatusServiceUnavailable)
			assert.Equal(t, "unavailable", p["code"])
			assert.Equal(t, "5", r.Header.Get("Retry-After"))
			t.Logf("full after %d items", len(acked))

			r = srv.do(http.MethodGet, "/readyz", "", nil)
			requireProblem(t, r, http.StatusServiceUnavailable)
			time.Sleep(time.Second) // long enough for /readyz to probe, and find no room
			r = srv.do(http.MethodGet, "/readyz", "", nil)
			requireProblem(t, r, http.StatusServiceUnavailable)

			// Reads go on; the write that failed left nothing.
			for id, body := range acked {
				r := srv.do(http.MethodGet, items+id, token, nil)
				require.Equal(t, http.StatusOK, r.Status, "%s: %s", id, r.Body)
				assert.JSONEq(t, body, string(itemData(t, r)), id)
			}
			r = srv.do(http.MethodGet, items+lost, token, nil)
			requireProblem(t, r, http.StatusNotFound)

			way.free(t, srv)
			require.Eventually(t, func() bool {
				return srv.do(http.MethodGet, "/readyz", "", nil).Status == http.StatusOK
			}, 15*time.Second, 100*time.Millisecond, "ready again once space is back, without a client write")
			r = put(lost)
			require.Equal(t, http.StatusOK, r.Status, "the retry succeeds: %s", r.Body)
			r = put("after")
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			srv.settle()
			for _, pr := range projections.Registered() {
				parked, err := srv.App.Engine.Parked(t.Context(), pr.Name())
				require.NoError(t, err)
				assert.Empty(t, parked, "%s parked events for lack of space", pr.Name())
			}

			srv.Stop()
			again := startServer(t, srv.Data, Config{})
			token = again.live.login(t, tn).AccessToken
			for id, body := range acked {
				r := again.do(http.MethodGet, items+id, token, nil)
				require.Equal(t, http.StatusOK, r.Status, "%s after a restart: %s", id, r.Body)
				assert.JSONEq(t, body, string(itemData(t, r)), id)
			}
		})
	}
}

// itemData is the data member of an item response.
func itemData(t *testing.T, r response) json.RawMessage {
	t.Helper()
	var it struct {
		Data json.RawMessage `json:"data"`
	}
	r.Decode(t, &it)
	return it.Data
}
