package shred_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events/shred"
)

func TestFileKeyring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	r, err := shred.OpenFileKeyring(dir)
	require.NoError(t, err)
	k1, err := r.Current(ctx, "t1")
	require.NoError(t, err)
	assert.Len(t, k1.Secret, shred.KeySize)
	again, err := r.Current(ctx, "t1")
	require.NoError(t, err)
	assert.Equal(t, k1, again, "one key per tenant")
	k2, err := r.Current(ctx, "..")
	require.NoError(t, err)
	assert.NotEqual(t, k1.Secret, k2.Secret)

	// The key survives a reopen, and is stored only wrapped, owner-only.
	r2, err := shred.OpenFileKeyring(dir)
	require.NoError(t, err)
	got, err := r2.Get(ctx, "t1", k1.ID)
	require.NoError(t, err)
	assert.Equal(t, k1, got)
	_, err = r2.Get(ctx, "t1", "other")
	assert.ErrorIs(t, err, shred.ErrUnknownKey)
	_, err = r2.Get(ctx, "t9", k1.ID)
	assert.ErrorIs(t, err, shred.ErrUnknownKey)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		if fi.IsDir() {
			assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), p)
			return nil
		}
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.False(t, bytes.Contains(b, k1.Secret), "%s holds the data key in clear", p)
		return nil
	})
	require.NoError(t, err)

	// Destroyed for good, across reopens; other tenants keep theirs.
	require.NoError(t, r2.Destroy(ctx, "t1"))
	require.NoError(t, r2.Destroy(ctx, "t1"), "idempotent")
	r3, err := shred.OpenFileKeyring(dir)
	require.NoError(t, err)
	_, err = r3.Get(ctx, "t1", k1.ID)
	assert.ErrorIs(t, err, shred.ErrErased)
	_, err = r3.Current(ctx, "t1")
	assert.ErrorIs(t, err, shred.ErrErased, "never a new key for an erased tenant")
	k2again, err := r3.Get(ctx, "..", k2.ID)
	require.NoError(t, err)
	assert.Equal(t, k2, k2again)
}

func TestFileKeyringRefusesAKEKOthersCanRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := shred.OpenFileKeyring(dir)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(filepath.Join(dir, "kek"), 0o644))
	_, err = shred.OpenFileKeyring(dir)
	assert.ErrorContains(t, err, "chmod 600")
}
