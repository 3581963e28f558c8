package identity_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

func privateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	return dir
}

func TestOperatorTokens(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	dir := privateDir(t)
	key, err := identity.LoadOrCreateOperatorKey(dir)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, identity.OperatorKeyFile))
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	again, err := identity.LoadOrCreateOperatorKey(dir)
	require.NoError(t, err)
	other, err := identity.LoadOrCreateOperatorKey(privateDir(t))
	require.NoError(t, err)

	tok, exp, err := key.Mint("alice", time.Hour, t0)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(tok, identity.OperatorTokenPrefix))
	assert.Equal(t, t0.Add(time.Hour), exp)
	otherTok, _, err := other.Mint("alice", time.Hour, t0)
	require.NoError(t, err)

	tests := []struct {
		name  string
		v     *identity.OperatorVerifier
		token string
		ok    bool
	}{
		{"valid", key.Verifier(clock.Fixed(t0.Add(time.Minute))), tok, true},
		{"valid with the key loaded again", again.Verifier(clock.Fixed(t0)), tok, true},
		{"expired", key.Verifier(clock.Fixed(t0.Add(time.Hour + time.Minute))), tok, false},
		{"not yet valid", key.Verifier(clock.Fixed(t0.Add(-time.Hour))), tok, false},
		{"another directory's key", key.Verifier(clock.Fixed(t0)), otherTok, false},
		{"no prefix", key.Verifier(clock.Fixed(t0)), strings.TrimPrefix(tok, identity.OperatorTokenPrefix), false},
		{"tampered", key.Verifier(clock.Fixed(t0)), tok[:len(tok)-3] + "AAA", false},
		{"prefix only", key.Verifier(clock.Fixed(t0)), identity.OperatorTokenPrefix, false},
		{"huge", key.Verifier(clock.Fixed(t0)), identity.OperatorTokenPrefix + strings.Repeat("a", 10000), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.v.Verify(context.Background(), tc.token)
			if !tc.ok {
				assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err), "%v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, ident.Principal{UserID: "operator:alice", Roles: []string{ident.RolePlatformAdmin}}, p)
		})
	}

	for name, c := range map[string]struct {
		name string
		ttl  time.Duration
	}{"empty name": {"", time.Hour}, "name with a space": {"a b", time.Hour}, "too long a ttl": {"alice", 13 * time.Hour}, "too short a ttl": {"alice", time.Second}} {
		_, _, err := key.Mint(c.name, c.ttl, t0)
		assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), name)
	}
}

func TestOperatorKeyIsTheOwnersOnly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix modes")
	}
	t.Parallel()
	t.Run("group-readable key", func(t *testing.T) {
		dir := privateDir(t)
		_, err := identity.LoadOrCreateOperatorKey(dir)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(filepath.Join(dir, identity.OperatorKeyFile), 0o640))
		_, err = identity.LoadOrCreateOperatorKey(dir)
		assert.ErrorContains(t, err, "lets others read")
	})
	t.Run("world-readable key", func(t *testing.T) {
		dir := privateDir(t)
		_, err := identity.LoadOrCreateOperatorKey(dir)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(filepath.Join(dir, identity.OperatorKeyFile), 0o604))
		_, err = identity.LoadOrCreateOperatorKey(dir)
		assert.Error(t, err)
	})
	t.Run("group-readable directory", func(t *testing.T) {
		dir := privateDir(t)
		require.NoError(t, os.Chmod(dir, 0o750))
		_, err := identity.LoadOrCreateOperatorKey(dir)
		assert.ErrorContains(t, err, "data directory")
		_, statErr := os.Stat(filepath.Join(dir, identity.OperatorKeyFile))
		assert.ErrorIs(t, statErr, os.ErrNotExist, "no key is made in a directory others can read")
	})
}

func TestTenantIssuerNeverSignsPlatformAdmin(t *testing.T) {
	t.Parallel()
	k, err := identity.GenerateSigningKey()
	require.NoError(t, err)
	is, err := identity.NewIssuer(identity.IssuerConfig{URL: "http://localhost:8080", ClientID: "c", Key: k})
	require.NoError(t, err)
	_, err = is.Issue(ident.Principal{TenantID: "t", UserID: "u", Roles: []string{ident.RoleTenantAdmin, ident.RolePlatformAdmin}})
	assert.Error(t, err)
	_, err = is.Issue(ident.Principal{TenantID: "t", UserID: "u", Roles: []string{ident.RoleTenantAdmin}})
	assert.NoError(t, err)
}

// FuzzOperatorVerify: whatever a client sends as an operator token is refused
// as unauthenticated, never a panic, unless it is a token of the key.
func FuzzOperatorVerify(f *testing.F) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	dir := f.TempDir()
	require.NoError(f, os.Chmod(dir, 0o700))
	key, err := identity.LoadOrCreateOperatorKey(dir)
	require.NoError(f, err)
	tok, _, err := key.Mint("alice", time.Hour, t0)
	require.NoError(f, err)
	for _, s := range []string{tok, "", identity.OperatorTokenPrefix, identity.OperatorTokenPrefix + "a.b.c", tok + "x", strings.ToUpper(tok),
		identity.OperatorTokenPrefix + "eyJhbGciOiJub25lIn0.eyJzdWIiOiJvcGVyYXRvcjptb2xlIn0."} {
		f.Add(s)
	}
	v := key.Verifier(clock.Fixed(t0))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := v.Verify(context.Background(), s)
		if err != nil {
			assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCode(err))
			return
		}
		assert.Equal(t, "operator:alice", p.UserID)
	})
}
