package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/notify"
)

// Found by review: an operator's Resend is a ledger line like any other, and a running
// server folds the lines it tails to their newest state before it looks for
// resends. If the delivery the operator resends is still in flight when Resend
// runs, the in-flight attempt's "delivered" line lands after the "resend" line,
// the fold keeps only "delivered", and the resend is dropped without a trace:
// Resend answered "1 delivery asked for", the receiver (which had lost or
// mishandled the first copy, which is why the operator resent it) is sent it
// once, and no error or state records that the request was ignored.
func TestAResendOfAnInFlightDeliveryIsSent(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			<-release // the first delivery is slow
		}
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	hooks := []notify.Webhook{{URL: srv.URL, Secret: []byte("s")}}
	d := &notify.Dispatcher{Reader: outbox(t, "n1"), Dir: dir, Webhooks: hooks, Backoff: time.Millisecond, MaxAttempts: 1}
	_, err := d.Deliver(context.Background())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	n, err := notify.Resend(dir, []string{"n1"}, false, time.Now())
	require.NoError(t, err)
	require.Equal(t, 1, n, "one delivery asked for")
	close(release)
	d.Wait() // the first delivery ends: "delivered", after the resend line

	_, err = d.Deliver(context.Background()) // the next round picks resends up
	require.NoError(t, err)
	d.Wait()
	assert.Equal(t, int32(2), calls.Load(), "the operator's resend was never sent")
}
