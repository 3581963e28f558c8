package commands_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
)

// docs/api.md says an item list cursor that was "made up" is a 400 on
// cursor, but the cursor's tag is an unkeyed SHA-256 of the tenant id (which
// the client knows) and the key, so any client can make up a cursor that is
// accepted. It only positions the caller's own list, so nothing leaks; the
// promise is what is wrong (or the tag should be keyed, like the events log's
// sealed cursors).
func TestMadeUpItemCursorIsRefused(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "madeup")
	for _, id := range []string{"a", "b", "c"} {
		_, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: id, Data: []byte(`{}`)})
		require.NoError(t, err)
	}
	f.project(t)

	h := sha256.New()
	h.Write([]byte("tenantstream items cursor\x00"))
	h.Write([]byte(tid))
	h.Write([]byte{0})
	h.Write([]byte("a"))
	forged := "c1." + base64.RawURLEncoding.EncodeToString(append(h.Sum(nil)[:8], "a"...))

	_, _, err := f.svc.ListItems(f.ctx, m, tid, forged, 10)
	require.Error(t, err, "a cursor the server never issued was accepted")
	assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), "a cursor the server never issued was accepted")
}

// The cursor after the longest item id still opens (the length bound on
// cursors leaves room for it).
func TestItemCursorAfterTheLongestID(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "longids")
	long := strings.Repeat("z", item.MaxIDLen)
	for _, id := range []string{"a", long[:item.MaxIDLen-1], long} {
		_, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: id, Data: []byte(`{}`)})
		require.NoError(t, err)
	}
	f.project(t)
	items, next, err := f.svc.ListItems(f.ctx, m, tid, "", 2)
	require.NoError(t, err)
	require.Len(t, items, 2)
	items, _, err = f.svc.ListItems(f.ctx, m, tid, next, 2)
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, long, items[0].ID)
}
