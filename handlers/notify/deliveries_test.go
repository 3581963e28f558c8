package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/notify"
)

// receiver is a webhook endpoint that fails while failing is set and keeps a
// deduplicated view of what it was sent, as a receiver should.
type receiver struct {
	*httptest.Server
	failing atomic.Bool
	hang    atomic.Bool // hold requests until the client gives up
	mu      sync.Mutex
	calls   map[string]int // successful deliveries per notification id
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{calls: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body) // so the server notices a client that hangs up
		if r.hang.Load() {
			select {
			case <-req.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		if r.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.calls[req.Header.Get("Tenantstream-Notification-Id")]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) seen() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.calls {
		out[k] = v
	}
	return out
}

func status(t *testing.T, dir, id string) notify.Delivery {
	t.Helper()
	all, err := notify.Deliveries(dir)
	require.NoError(t, err)
	require.Len(t, all[id], 1, "one webhook")
	return all[id][0]
}

// A delivery that gave up is recorded with its last error, and goes out again
// after a restart: the receiver ends up with every notification.
func TestAGivenUpDeliveryIsRetriedAfterARestart(t *testing.T) {
	t.Parallel()
	dir, rcv := t.TempDir(), newReceiver(t)
	rcv.failing.Store(true)
	b := outbox(t, "n1", "n2")
	hooks := []notify.Webhook{{URL: rcv.URL, Secret: []byte("s")}}
	d := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Millisecond, MaxAttempts: 2}
	_, err := d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()
	got := status(t, dir, "n1")
	assert.Equal(t, notify.StatusFailed, got.Status)
	assert.Equal(t, 2, got.Attempts)
	assert.Equal(t, "status 500", got.Error)
	assert.Empty(t, rcv.seen())

	rcv.failing.Store(false)
	restarted := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Millisecond, MaxAttempts: 2}
	n, err := restarted.Deliver(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "no new notification: the cursor had moved on")
	restarted.Wait()
	assert.Equal(t, map[string]int{"n1": 1, "n2": 1}, rcv.seen())
	assert.Equal(t, notify.StatusDelivered, status(t, dir, "n1").Status)
	assert.Equal(t, []string{"n1", "n2"}, ids(t, dir), "the file has each notification once")
}

// A shutdown while a receiver fails (or hangs) does not wait out the retries:
// it returns within its grace, and the deliveries stay owed for the next start.
func TestShutdownDoesNotWaitForAFailingReceiver(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"failing", "hanging"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir, rcv := t.TempDir(), newReceiver(t)
			if mode == "failing" {
				rcv.failing.Store(true)
			} else {
				rcv.hang.Store(true)
			}
			b := outbox(t, "n1")
			hooks := []notify.Webhook{{URL: rcv.URL, Secret: []byte("s")}}
			d := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Second, MaxAttempts: 8}
			_, err := d.Deliver(context.Background())
			require.NoError(t, err)
			start := time.Now()
			d.Shutdown(200 * time.Millisecond)
			assert.Less(t, time.Since(start), 2*time.Second, "the retries (about 2 minutes) were not waited out")
			assert.Equal(t, notify.StatusPending, status(t, dir, "n1").Status, "still owed")

			rcv.failing.Store(false)
			rcv.hang.Store(false)
			restarted := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Millisecond}
			_, err = restarted.Deliver(context.Background())
			require.NoError(t, err)
			restarted.Wait()
			assert.Equal(t, map[string]int{"n1": 1}, rcv.seen())
			assert.Equal(t, notify.StatusDelivered, status(t, dir, "n1").Status)
		})
	}
}

// An operator resends one notification, or every failed one; a running
// dispatcher picks the request up at its next round.
func TestResend(t *testing.T) {
	t.Parallel()
	dir, rcv := t.TempDir(), newReceiver(t)
	b := outbox(t, "n1", "n2")
	hooks := []notify.Webhook{{URL: rcv.URL, Secret: []byte("s")}}
	d := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Millisecond, MaxAttempts: 1}
	_, err := d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()
	require.Equal(t, map[string]int{"n1": 1, "n2": 1}, rcv.seen())

	n, err := notify.Resend(dir, []string{"n2"}, false, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()
	assert.Equal(t, map[string]int{"n1": 1, "n2": 2}, rcv.seen(), "n2 sent again")

	n, err = notify.Resend(dir, nil, true, time.Now())
	require.NoError(t, err)
	assert.Zero(t, n, "nothing failed")
	_, err = notify.Resend(dir, []string{"nope"}, false, time.Now())
	assert.ErrorContains(t, err, `"nope" was never sent`)

	// A failed one: --failed resends it and only it.
	rcv.failing.Store(true)
	put(t, b, 3, "n3")
	_, err = d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()
	require.Equal(t, notify.StatusFailed, status(t, dir, "n3").Status)
	rcv.failing.Store(false)
	n, err = notify.Resend(dir, nil, true, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()
	assert.Equal(t, map[string]int{"n1": 1, "n2": 2, "n3": 1}, rcv.seen())
	assert.Equal(t, notify.StatusDelivered, status(t, dir, "n3").Status)
}

// A line torn by a crash is skipped, and the line after it is read.
func TestDeliveriesLedgerSurvivesATornLine(t *testing.T) {
	t.Parallel()
	dir, rcv := t.TempDir(), newReceiver(t)
	d := &notify.Dispatcher{Reader: outbox(t, "n1"), Dir: dir, Webhooks: []notify.Webhook{{URL: rcv.URL}}, MaxAttempts: 1}
	_, err := d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()
	f, err := os.OpenFile(filepath.Join(dir, "deliveries.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("{\"id\":\"n1\",\"url\":\"" + rcv.URL + "\",\"sta")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.Equal(t, notify.StatusDelivered, status(t, dir, "n1").Status)
}
