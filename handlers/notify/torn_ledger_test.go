package notify_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/notify"
)

// Found by review: a line torn by a crash (bytes without their newline at the end of
// deliveries.jsonl) is not "completed by a later append": the next append
// (O_APPEND) lands right after the torn bytes, so the first line the restarted
// server writes is glued to the fragment, fails to parse and is skipped. When
// that line is a "pending" line, its body is lost with it: the delivery's later
// "failed" line has no body to inherit, so neither the next start nor an
// operator's Resend ever sends the notification again (resume skips deliveries
// without a body; Resend writes a resend line without one). A webhook receiver
// that was down across a crash never gets the notification: something owed is
// forgotten, which the ledger exists to prevent.
func TestALineTornByACrashDoesNotSwallowTheNextOwedDelivery(t *testing.T) {
	t.Parallel()
	dir, rcv := t.TempDir(), newReceiver(t)
	b := outbox(t, "n1")
	hooks := []notify.Webhook{{URL: rcv.URL, Secret: []byte("s")}}
	d := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Millisecond, MaxAttempts: 1}
	_, err := d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()

	// The server crashes in the middle of writing a ledger line.
	f, err := os.OpenFile(filepath.Join(dir, "deliveries.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"id":"n1","url":"` + rcv.URL + `","sta`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	// It restarts while the receiver is down; a new notification is owed.
	rcv.failing.Store(true)
	put(t, b, 2, "n2")
	restarted := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Millisecond, MaxAttempts: 1}
	_, err = restarted.Deliver(context.Background())
	require.NoError(t, err)
	restarted.Wait()

	// The receiver recovers; the next start must send n2.
	rcv.failing.Store(false)
	again := &notify.Dispatcher{Reader: b, Dir: dir, Webhooks: hooks, Backoff: time.Millisecond, MaxAttempts: 1}
	_, err = again.Deliver(context.Background())
	require.NoError(t, err)
	again.Wait()
	assert.Equal(t, 1, rcv.seen()["n2"], "n2 was owed when the receiver failed, and never sent again")

	// Nor can an operator get it sent.
	n, err := notify.Resend(dir, []string{"n2"}, false, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = again.Deliver(context.Background())
	require.NoError(t, err)
	again.Wait()
	assert.GreaterOrEqual(t, rcv.seen()["n2"], 1, "a resend of n2 sends nothing: its body was lost with the glued line")
}
