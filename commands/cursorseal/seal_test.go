package cursorseal_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/cursorseal"
	"github.com/tenantstream/tenantstream/events"
)

func key(t *testing.T) cursorseal.Key {
	t.Helper()
	k, err := cursorseal.NewKey(cursorseal.NewMaterial())
	require.NoError(t, err)
	return k
}

// Sealed cursors are opaque: the length is the same for every SQLite position
// (so it does not grow with the platform's volume), the text and the decoded
// bytes hold no digits of the position, and one position seals differently each
// time, so a tail poll cannot tell whether the store moved.
func TestSealedCursorsAreOpaqueAndConstantLength(t *testing.T) {
	s := cursorseal.New(key(t))
	const tenant = events.TenantID("acme")
	length := -1
	for _, pos := range []int64{0, 7, 166, 98765, 4_000_000_123, 1<<63 - 1} {
		plain := "p1." + strconv.FormatInt(pos, 10)
		sealed := s.Seal(tenant, events.Cursor(plain))
		if length < 0 {
			length = len(sealed)
		}
		assert.Len(t, sealed, length, "position %d", pos)
		assert.NotContains(t, sealed, "p1.")
		raw, err := base64.RawURLEncoding.DecodeString(sealed)
		require.NoError(t, err, "base64url without padding")
		assert.NotContains(t, string(raw), plain)
		if digits := strconv.FormatInt(pos, 10); len(digits) >= 5 {
			assert.NotContains(t, sealed, digits)
			assert.NotContains(t, string(raw), digits)
		}
		assert.NotEqual(t, sealed, s.Seal(tenant, events.Cursor(plain)), "a fresh nonce each time")
		got, err := s.Open(tenant, sealed)
		require.NoError(t, err)
		assert.Equal(t, events.Cursor(plain), got)
	}
	// The empty cursor (the beginning) and a long DynamoDB-style cursor round-trip.
	for _, c := range []events.Cursor{"", events.Cursor("dt1." + strings.Repeat("x", 300))} {
		got, err := s.Open(tenant, s.Seal(tenant, c))
		require.NoError(t, err)
		assert.Equal(t, c, got)
	}
}

func TestOpenRejectsOtherTenantsTamperingAndTruncation(t *testing.T) {
	s := cursorseal.New(key(t))
	sealed := s.Seal("acme", "p1.166")

	_, err := s.Open("globex", sealed)
	assert.ErrorIs(t, err, cursorseal.ErrInvalid, "sealed for another tenant")
	_, err = cursorseal.New(key(t)).Open("acme", sealed)
	assert.ErrorIs(t, err, cursorseal.ErrInvalid, "sealed with an unknown key")

	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	require.NoError(t, err)
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		_, err := s.Open("acme", base64.RawURLEncoding.EncodeToString(b))
		assert.ErrorIs(t, err, cursorseal.ErrInvalid, "byte %d flipped", i)
	}
	for n := 0; n < len(sealed); n++ {
		_, err := s.Open("acme", sealed[:n])
		assert.ErrorIs(t, err, cursorseal.ErrInvalid, "truncated to %d", n)
	}
	for _, bad := range []string{"p1.166", sealed + "=", sealed + "A", "!" + sealed[1:], strings.Repeat("A", len(sealed))} {
		_, err := s.Open("acme", bad)
		assert.ErrorIs(t, err, cursorseal.ErrInvalid, "%q", bad)
	}
}

// After a rotation the new key seals and the previous one still opens; a key
// older than that does not.
func TestRotationAcceptsThePreviousKey(t *testing.T) {
	oldest, old, cur := key(t), key(t), key(t)
	before := cursorseal.New(old, oldest)
	byOld, byOldest := before.Seal("acme", "p1.9"), cursorseal.New(oldest).Seal("acme", "p1.8")
	after := cursorseal.New(cur, old)
	got, err := after.Open("acme", byOld)
	require.NoError(t, err)
	assert.Equal(t, events.Cursor("p1.9"), got)
	_, err = after.Open("acme", byOldest)
	assert.ErrorIs(t, err, cursorseal.ErrInvalid)
	_, err = before.Open("acme", after.Seal("acme", "p1.10"))
	assert.ErrorIs(t, err, cursorseal.ErrInvalid, "the old sealer does not know the new key")
}

func TestNewKeyNeedsEnoughMaterial(t *testing.T) {
	_, err := cursorseal.NewKey(strings.Repeat("a", cursorseal.MinMaterial-1))
	assert.ErrorContains(t, err, "at least 32 characters")
	a, err := cursorseal.NewKey(strings.Repeat("a", cursorseal.MinMaterial))
	require.NoError(t, err)
	b, err := cursorseal.NewKey(strings.Repeat("a", cursorseal.MinMaterial))
	require.NoError(t, err)
	got, err := cursorseal.New(b).Open("acme", cursorseal.New(a).Seal("acme", "p1.1"))
	require.NoError(t, err, "the same material is the same key")
	assert.Equal(t, events.Cursor("p1.1"), got)
	assert.Equal(t, a.ID(), b.ID())
}

// The local key is created once, mode 0600, and reloaded on the next start;
// the rotated-out key in PreviousKeyFile still opens old cursors.
func TestLoadOrCreatePersistsTheKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := cursorseal.LoadOrCreate(dir)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, cursorseal.KeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	sealed := first.Seal("acme", "p1.42")

	again, err := cursorseal.LoadOrCreate(dir)
	require.NoError(t, err)
	got, err := again.Open("acme", sealed)
	require.NoError(t, err, "a cursor from before the restart opens")
	assert.Equal(t, events.Cursor("p1.42"), got)

	require.NoError(t, os.Rename(filepath.Join(dir, cursorseal.KeyFile), filepath.Join(dir, cursorseal.PreviousKeyFile)))
	rotated, err := cursorseal.LoadOrCreate(dir)
	require.NoError(t, err)
	got, err = rotated.Open("acme", sealed)
	require.NoError(t, err, "the previous key still opens")
	assert.Equal(t, events.Cursor("p1.42"), got)
	_, err = first.Open("acme", rotated.Seal("acme", "p1.43"))
	assert.ErrorIs(t, err, cursorseal.ErrInvalid, "a new key was made")

	require.NoError(t, os.Chmod(filepath.Join(dir, cursorseal.KeyFile), 0o644))
	_, err = cursorseal.LoadOrCreate(dir)
	assert.ErrorContains(t, err, "chmod 600")
}
