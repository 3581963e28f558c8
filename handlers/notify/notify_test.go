package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/notify"
	"github.com/tenantstream/tenantstream/projections"
)

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	secret, body := []byte("whsec"), []byte(`{"id":"n1"}`)
	at := time.Unix(1_800_000_000, 0)
	h := notify.Sign(secret, at, body)
	assert.Regexp(t, `^t=1800000000,v1=[0-9a-f]{64}$`, h)
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"valid", secret, h, body, at.Add(time.Minute), true},
		{"tampered body", secret, h, []byte(`{"id":"n2"}`), at, false},
		{"other secret", []byte("other"), h, body, at, false},
		{"too old", secret, h, body, at.Add(10 * time.Minute), false},
		{"malformed header", secret, "v1=abc", body, at, false},
		{"signature of another time", secret, "t=1800000001," + h[len("t=1800000000,"):], body, at, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// outbox fills an in-memory read model with notifications, as the outbox projection does.
func outbox(t *testing.T, ids ...string) *projections.MemoryBackend {
	t.Helper()
	b := projections.NewMemoryBackend()
	put(t, b, 1, ids...)
	return b
}

// put stores notifications of events at positions from, from+1, ...; their
// recording times go backwards, as after a clock step, which must not matter.
func put(t *testing.T, b *projections.MemoryBackend, from int64, ids ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := b.Begin(ctx)
	require.NoError(t, err)
	gen, err := tx.ActiveGeneration(ctx, "outbox", projections.PlatformTenant)
	require.NoError(t, err)
	rm := tx.ReadModel("outbox", gen)
	for i, id := range ids {
		at := time.Unix(int64(2000-int(from)-i), 0).UTC()
		n := projections.Notification{ID: id, Type: "invoice.issued", TenantID: "t1", CreatedAt: at, Data: json.RawMessage(`{}`)}
		raw, err := json.Marshal(n)
		require.NoError(t, err)
		key := projections.OutboxKey(events.Event{ID: id, Position: from + int64(i), RecordedAt: at})
		require.NoError(t, rm.Put(ctx, projections.PlatformTenant, projections.OutboxCollection, key, raw))
	}
	require.NoError(t, tx.Commit())
}

func ids(t *testing.T, dir string) []string {
	t.Helper()
	notes, err := notify.ReadFile(dir)
	require.NoError(t, err)
	var out []string
	for _, raw := range notes {
		var n projections.Notification
		require.NoError(t, json.Unmarshal(raw, &n))
		out = append(out, n.ID)
	}
	return out
}

func TestDeliverOnceAndResumeAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := outbox(t, "n1", "n2")
	d := &notify.Dispatcher{Reader: b, Dir: dir}
	n, err := d.Deliver(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = d.Deliver(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "nothing new")

	put(t, b, 3, "n3")
	restarted := &notify.Dispatcher{Reader: b, Dir: dir} // reads the saved cursor
	n, err = restarted.Deliver(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"n1", "n2", "n3"}, ids(t, dir))

	// A torn last line (a crash mid-write) is skipped, not an error.
	f, err := os.OpenFile(notify.FilePath(dir), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"id":"half`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.Equal(t, []string{"n1", "n2", "n3"}, ids(t, dir))
}

func TestWebhooksAreSignedAndRetried(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec")
	var calls atomic.Int32
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		if err := notify.Verify(secret, r.Header.Get(notify.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get("Tenantstream-Notification-Id"))
		mu.Unlock()
	}))
	defer srv.Close()
	d := &notify.Dispatcher{Reader: outbox(t, "n1"), Dir: t.TempDir(), Webhooks: []notify.Webhook{{URL: srv.URL, Secret: secret}},
		Backoff: time.Millisecond, MaxAttempts: 3}
	_, err := d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()
	assert.Equal(t, int32(2), calls.Load(), "one failure, then a retry")
	assert.Equal(t, []string{"n1"}, got, "delivered once, signed")
}
