package notify_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/notify"
)

// Found by review: the deliveries ledger is created 0600 because its lines carry
// notification bodies, but the notifications file the Dispatcher writes the
// very same bodies to (notify.FilePath, one JSON line per notification, every
// tenant's) is created 0644, in a data directory created 0755. Any local user
// can read every tenant's notifications (invoice.issued data, tenant and user
// events) from it, which makes the ledger's 0600 moot. Expected: the
// notifications file is owner-only like deliveries.jsonl.
func TestNotificationsFileIsOwnerOnlyAsTheLedger(t *testing.T) {
	dir, rcv := t.TempDir(), newReceiver(t)
	d := &notify.Dispatcher{Reader: outbox(t, "n1"), Dir: dir, Webhooks: []notify.Webhook{{URL: rcv.URL, Secret: []byte("s")}}, MaxAttempts: 1}
	_, err := d.Deliver(context.Background())
	require.NoError(t, err)
	d.Wait()

	ledger, err := os.Stat(filepath.Join(dir, "deliveries.jsonl"))
	require.NoError(t, err)
	require.Zero(t, ledger.Mode().Perm()&0o077, "the ledger is owner-only")
	notes, err := os.Stat(notify.FilePath(dir))
	require.NoError(t, err)
	assert.Zero(t, notes.Mode().Perm()&0o077, "%s (mode %04o) holds the bodies the 0600 ledger holds, readable by every local user",
		filepath.Base(notify.FilePath(dir)), notes.Mode().Perm())
}
