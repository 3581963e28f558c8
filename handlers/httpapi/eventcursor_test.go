package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// eventPage is the event log's answer, with each event kept as raw JSON too.
type eventPage struct {
	Events     []json.RawMessage `json:"events"`
	NextCursor string            `json:"next_cursor"`
	Next       string            `json:"next"`
	More       bool              `json:"more"`
}

func (h *inputAPI) eventLog(tn inputTenant, path string, after string, limit int) (eventPage, inputResponse) {
	h.t.Helper()
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	r := h.request(http.MethodGet, "/tenants/"+path+"/events?"+q.Encode(), tn.Token, nil)
	var p eventPage
	if r.Status == http.StatusOK {
		require.NoError(h.t, json.Unmarshal(r.Body, &p), "%s", r.Body)
		require.NotEmpty(h.t, p.NextCursor, "every page names its cursor next_cursor, as every list does")
		require.Equal(h.t, p.NextCursor, p.Next, "next is the same value, for older clients")
	}
	return p, r
}

// putItems writes n items for tn through the API.
func (h *inputAPI) putItems(tn inputTenant, prefix string, n int) {
	h.t.Helper()
	for i := range n {
		r := h.request(http.MethodPut, fmt.Sprintf("/tenants/%s/data/%s-%d", tn.ID, prefix, i), tn.Token, []byte(`{"n":1}`))
		require.Equal(h.t, http.StatusOK, r.Status, "%s", r.Body)
	}
}

// flood appends n events to another tenant's stream straight into the store:
// the platform-wide volume a cursor must not reveal.
func (h *inputAPI) flood(tenant string, n int) {
	h.t.Helper()
	for done := 0; done < n; done += 100 {
		evs := make([]events.NewEvent, min(100, n-done))
		for i := range evs {
			evs[i] = events.NewEvent{Type: "test.flood", Data: json.RawMessage(`{}`)}
		}
		_, err := h.Store.Append(context.Background(), events.AppendRequest{Tenant: events.TenantID(tenant), Stream: "flood",
			StreamType: "flood", Expected: events.AnyVersion, Events: evs})
		require.NoError(h.t, err)
	}
}

// requireBadAfter checks a 400 problem naming the after parameter.
func requireBadAfter(t *testing.T, r inputResponse, what string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", what, r.Body)
	assert.Empty(t, problemError(r))
	var p problem.Problem
	require.NoError(t, json.Unmarshal(r.Body, &p))
	require.Len(t, p.Errors, 1, "%s", r.Body)
	assert.Equal(t, "after", p.Errors[0].Field)
}

// A tenant's cursors say nothing about the platform's volume. While
// tenant B appends over a thousand events, A's cursors keep one length, carry
// no store prefix, no digits of the store position and nothing decodable, and
// the store's own cursor is not accepted.
func TestEventLogCursorsRevealNoStoreVolume(t *testing.T) {
	h := newInputAPI(t)
	a, b := h.onboard("acme"), h.onboard("globex")

	first, r := h.eventLog(a, a.ID, "", 1)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.True(t, first.More)
	h.flood(b.ID, 1234)
	h.putItems(a, "doc", 2)
	head, _ := h.head()
	require.Greater(t, head, int64(1234))

	var cursors []string
	for p, after := first, first.Next; ; {
		cursors = append(cursors, p.Next)
		if !p.More {
			break
		}
		p, r = h.eventLog(a, a.ID, after, 1)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		after = p.Next
	}
	// The tail cursor after B's flood, the one a client polls with.
	tail, r := h.eventLog(a, a.ID, cursors[len(cursors)-1], 1)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Empty(t, tail.Events)
	cursors = append(cursors, tail.Next)

	for _, c := range cursors {
		assert.Len(t, c, len(cursors[0]), "every cursor has one length")
		assert.NotContains(t, c, "mem:")
		assert.NotContains(t, c, strconv.FormatInt(head, 10), "the store's head")
		raw, err := base64.RawURLEncoding.DecodeString(c)
		require.NoError(t, err, "a cursor is base64url without padding: %q", c)
		assert.NotContains(t, string(raw), "mem:")
		assert.NotContains(t, string(raw), strconv.FormatInt(head, 10))
	}
	assert.NotEqual(t, cursors[len(cursors)-2], cursors[len(cursors)-1], "a tail poll gets a fresh-looking cursor")
	// A store cursor (what the API used to hand out) is not a cursor of the API.
	_, r = h.eventLog(a, a.ID, "mem:3", 1)
	requireBadAfter(t, r, "a raw store cursor")
}

// Paging through a tenant's whole log with the sealed cursors returns every
// event exactly once, in the store's order, with more on all pages but the
// last; the last page's next then picks up what is appended later, and only
// the tenant's own events, however much another tenant wrote meanwhile.
func TestEventLogPagesEveryEventOnceAndTails(t *testing.T) {
	h := newInputAPI(t)
	a, b := h.onboard("acme"), h.onboard("globex")
	for i := range 4 {
		h.putItems(a, fmt.Sprintf("a%d", i), 3)
		h.flood(b.ID, 50)
		h.putItems(b, fmt.Sprintf("b%d", i), 2)
	}
	want, err := h.Store.ReadTenant(context.Background(), events.TenantID(a.ID), "", events.ReadOptions{Limit: 1000})
	require.NoError(t, err)
	require.False(t, want.More)
	require.Greater(t, len(want.Events), 12)

	readAll := func(after string) ([]string, string) {
		var ids []string
		for pages := 0; ; pages++ {
			require.Less(t, pages, 100, "paging does not end")
			p, r := h.eventLog(a, a.ID, after, 5)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			require.NotEmpty(t, p.Next)
			for _, raw := range p.Events {
				var e events.Event
				require.NoError(t, json.Unmarshal(raw, &e))
				assert.Equal(t, events.TenantID(a.ID), e.TenantID)
				ids = append(ids, e.ID)
			}
			if p.More {
				assert.Len(t, p.Events, 5, "a page with more is full")
			}
			after = p.Next
			if !p.More {
				return ids, after
			}
		}
	}
	ids, tail := readAll("")
	wantIDs := make([]string, len(want.Events))
	for i, e := range want.Events {
		wantIDs[i] = e.ID
	}
	assert.Equal(t, wantIDs, ids, "every event once, in order")

	h.flood(b.ID, 300)
	h.putItems(a, "later", 2)
	later, _ := readAll(tail)
	require.Len(t, later, 2, "the tail cursor resumes with the later appends only")
	all, err := h.Store.ReadTenant(context.Background(), events.TenantID(a.ID), "", events.ReadOptions{Limit: 1000})
	require.NoError(t, err)
	n := len(all.Events)
	assert.Equal(t, []string{all.Events[n-2].ID, all.Events[n-1].ID}, later)
}

// A cursor is bound to its tenant and cannot be forged: B using A's cursor on
// its own log, or anyone sending a tampered or truncated cursor, gets a 400
// naming after, never someone's events.
func TestEventLogRejectsForeignAndTamperedCursors(t *testing.T) {
	h := newInputAPI(t)
	a, b := h.onboard("acme"), h.onboard("globex")
	h.putItems(a, "doc", 3)
	h.putItems(b, "doc", 3)
	p, r := h.eventLog(a, a.ID, "", 2)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	cursorA := p.Next
	_, r = h.eventLog(a, a.ID, cursorA, 2)
	require.Equal(t, http.StatusOK, r.Status, "A's own cursor works: %s", r.Body)

	_, r = h.eventLog(b, b.ID, cursorA, 2)
	requireBadAfter(t, r, "B with A's cursor")

	raw, err := base64.RawURLEncoding.DecodeString(cursorA)
	require.NoError(t, err)
	for _, i := range []int{0, 1, 5, len(raw) / 2, len(raw) - 1} {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x20
		_, r = h.eventLog(a, a.ID, base64.RawURLEncoding.EncodeToString(bad), 2)
		requireBadAfter(t, r, fmt.Sprintf("byte %d tampered", i))
	}
	for _, bad := range []string{cursorA[:len(cursorA)-1], cursorA[:len(cursorA)/2], cursorA + "A", strings.ToUpper(cursorA), "garbage"} {
		_, r = h.eventLog(a, a.ID, bad, 2)
		requireBadAfter(t, r, fmt.Sprintf("cursor %q", bad))
	}
}

// The events in the log carry their stream version but not the store-wide
// position (events.Event.Position stays out of the JSON envelope).
func TestEventLogEventsShowNoStorePosition(t *testing.T) {
	h := newInputAPI(t)
	a, b := h.onboard("acme"), h.onboard("globex")
	h.flood(b.ID, 200)
	h.putItems(a, "doc", 1)
	p, r := h.eventLog(a, a.ID, "", 100)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.NotEmpty(t, p.Events)
	envelope := []string{"id", "tenant_id", "stream_id", "stream_type", "version", "type", "schema_version",
		"occurred_at", "recorded_at", "correlation_id", "causation_id", "actor", "data"}
	for _, raw := range p.Events {
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		for k := range m {
			assert.Contains(t, envelope, k, "event member %q is not part of the envelope: %s", k, raw)
		}
		assert.NotContains(t, m, "position")
		assert.Contains(t, m, "version", "the per-stream version stays")
	}
}
