package commands_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/item"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
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

// losingItemAppends makes every item append lose its race, as a hot item under
// many writers can.
type losingItemAppends struct{ *memstore.Store }

func (s *losingItemAppends) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if req.StreamType == "item" {
		return events.AppendResult{}, fmt.Errorf("lost: %w", events.ErrConcurrency)
	}
	return s.Store.Append(ctx, req)
}

// A conditional write whose precondition holds every time but which loses
// every race is a 409 to retry (docs/api.md, Conditional requests), not a 412:
// no precondition failed. With or without a key.
func TestAConditionalWriteThatKeepsLosingIsAConflict(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "hotitem")
	_, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: "hot", Data: []byte(`{}`)})
	require.NoError(t, err)
	f.svc.Store = &losingItemAppends{Store: f.store}
	for _, key := range []string{"", "K"} {
		mk := m
		mk.IdempotencyKey, mk.Fingerprint = key, "put-hot"
		_, err = f.svc.PutItem(f.ctx, mk, commands.PutItem{Tenant: tid, ItemID: "hot", Data: []byte(`{"a":1}`), If: commands.IfExists()})
		assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "key %q: %v", key, err)
		mk.Fingerprint = "delete-hot-" + key
		err = f.svc.DeleteItem(f.ctx, mk, tid, "hot", commands.IfVersion(1))
		assert.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "key %q: %v", key, err)
	}
}
