package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
)

// pageEnvelope is what a page adds to its items: {"items":[...],"next_cursor":"..."}.
const pageEnvelope = 512

// TestItemPagesAreCappedInBytes drives the real server (SQLite store and read
// models): a list of large items comes back in pages of at most 1 MiB of items,
// each item exactly once, and a cursor that is not this list's own is a 400 on
// "cursor" (docs/api.md, "Requests and pages").
func TestItemPagesAreCappedInBytes(t *testing.T) {
	srv := startServer(t, "", Config{})
	acme := onboardAndLogin(t, srv, "acme")
	beta := onboardAndLogin(t, srv, "beta")

	// 40 items of 60 KiB, data full of < and & (which encoding/json would escape
	// to six bytes each), and 30 small ones, in interleaved ids.
	var want []string
	for i := range 70 {
		id := fmt.Sprintf("doc-%03d", i)
		data := `{"n":` + fmt.Sprint(i) + `}`
		if i%7 < 4 {
			data = `{"p":"` + strings.Repeat("<&>", 20<<10) + `"}`
		}
		r := srv.do(http.MethodPut, acme.path+"/data/"+id, acme.token, data)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		want = append(want, id)
	}
	r := srv.do(http.MethodPut, beta.path+"/data/doc-001", beta.token, `{"b":1}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = srv.do(http.MethodPut, beta.path+"/data/doc-002", beta.token, `{"b":2}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	srv.settle()

	var (
		got     []string
		pages   int
		cursor  string
		cursors []string // each page's next_cursor
		firsts  []string // each page's first item
	)
	for {
		path := acme.path + "/data?limit=1000"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := srv.do(http.MethodGet, path, acme.token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.LessOrEqual(t, len(r.Body), commands.MaxListBytes+pageEnvelope, "page %d is %d bytes", pages, len(r.Body))
		var page struct {
			Items []struct {
				ItemID string `json:"item_id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		r.Decode(t, &page)
		require.NotEmpty(t, page.Items)
		firsts = append(firsts, page.Items[0].ItemID)
		for _, it := range page.Items {
			got = append(got, it.ItemID)
		}
		pages++
		if page.NextCursor == "" {
			break
		}
		require.Less(t, pages, 20, "paging does not end")
		cursor = page.NextCursor
		cursors = append(cursors, cursor)
	}
	assert.Equal(t, want, got, "every item exactly once, in id order")
	// 40 x 60 KiB is 2.3 MiB: three pages.
	assert.Equal(t, 3, pages)
	t.Logf("70 items (40 of 60 KiB) in %d pages", pages)

	// Cursors: only this list's own.
	r = srv.do(http.MethodGet, beta.path+"/data?limit=1", beta.token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	betaCursor, _ := r.JSON(t)["next_cursor"].(string)
	require.NotEmpty(t, betaCursor)
	for name, c := range map[string]string{
		"another tenant's": betaCursor,
		"a bare item id":   "doc-010",
		"unknown":          "c1.AAAAAAAAAAAAZG9jLTAxMA",
		"edited":           cursor[:len(cursor)-2] + string(cursor[len(cursor)-2]^1) + cursor[len(cursor)-1:],
		"overlong":         "c1." + strings.Repeat("A", 2000),
		"an events cursor": "p1.3",
	} {
		r := srv.do(http.MethodGet, acme.path+"/data?cursor="+url.QueryEscape(c), acme.token, nil)
		p := requireProblem(t, r, http.StatusBadRequest)
		assert.Equal(t, "invalid", p["code"], "%s", name)
		errs, _ := p["errors"].([]any)
		require.Len(t, errs, 1, "%s: %s", name, r.Body)
		assert.Equal(t, "cursor", errs[0].(map[string]any)["field"], name)
	}
	// A cursor still resumes after its item is deleted.
	last := got[slices.Index(got, firsts[1])-1] // the item cursors[0] resumes after
	r = srv.do(http.MethodDelete, acme.path+"/data/"+last, acme.token, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	srv.settle()
	r = srv.do(http.MethodGet, acme.path+"/data?limit=1&cursor="+url.QueryEscape(cursors[0]), acme.token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), `"item_id":"`+firsts[1]+`"`)
}

// liveClient is an onboarded tenant's path and token on a testServer.
type liveClient struct{ path, token string }

func onboardAndLogin(t *testing.T, srv *testServer, name string) liveClient {
	t.Helper()
	email := "admin@" + name + ".test"
	r := srv.do(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": email, "password": acmePassword})
	require.Equal(t, http.StatusCreated, r.Status, "onboard: %s", r.Body)
	id, _ := r.JSON(t)["tenant_id"].(string)
	tok, _ := srv.login(name, email, acmePassword)
	return liveClient{path: "/tenants/" + id, token: tok}
}

// TestEventPagesAreCappedInBytes: the events log of a tenant with large items
// comes back in pages of at most 1 MiB, as written (encoding/json escapes <, >
// and &, six bytes for one), each event exactly once (docs/api.md, "Paging the
// event log").
func TestEventPagesAreCappedInBytes(t *testing.T) {
	srv := startServer(t, "", Config{})
	acme := onboardAndLogin(t, srv, "acme")
	const puts = 30
	for i := range puts {
		data := `{"p":"` + strings.Repeat("<&>", 20<<10) + `"}`
		if i%3 == 0 {
			data = `{"p":"` + strings.Repeat("x", 60<<10) + `"}`
		}
		r := srv.do(http.MethodPut, fmt.Sprintf("%s/data/doc-%03d", acme.path, i), acme.token, data)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}

	seen := map[string]bool{}
	var itemPuts, pages int
	after := ""
	for {
		path := acme.path + "/events?limit=1000"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		r := srv.do(http.MethodGet, path, acme.token, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var page struct {
			Events []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"events"`
			Next string `json:"next"`
			More bool   `json:"more"`
		}
		r.Decode(t, &page)
		if len(page.Events) > 1 {
			assert.LessOrEqual(t, len(r.Body), commands.MaxEventLogBytes+pageEnvelope, "page %d: %d events in %d bytes", pages, len(page.Events), len(r.Body))
		}
		for _, e := range page.Events {
			assert.False(t, seen[e.ID], "event %s twice", e.ID)
			seen[e.ID] = true
			if e.Type == "item.put" {
				itemPuts++
			}
		}
		pages++
		if !page.More {
			break
		}
		require.NotEmpty(t, page.Events, "an empty page that says there is more")
		require.Less(t, pages, 100, "paging does not end")
		after = page.Next
	}
	assert.Equal(t, puts, itemPuts, "every item.put exactly once")
	t.Logf("%d events in %d pages", len(seen), pages)
	assert.Greater(t, pages, 5)
}
