package identity_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pw      string
		message string // "" = valid
	}{
		{"Passw0rd!", ""},
		{"Ünïcödé1-pass", ""},
		{"Aa1 aaaa.", ""},
		{"Aa1!", "Password must be 8 to 256 characters long."},
		{"Aa1!" + strings.Repeat("x", 253), "Password must be 8 to 256 characters long."},
		{"password", "Password must contain an upper-case letter, a digit and a symbol."},
		{"PASSWORD1!", "Password must contain a lower-case letter."},
		{"Password!", "Password must contain a digit."},
		{"Password1", "Password must contain a symbol."},
		{" Password1!", "Password must not start or end with a space."},
		{"Password1!\x00", "Password must not contain control characters."},
		{"Password1!\xff", "Password must be valid UTF-8."},
	}
	for _, tc := range cases {
		err := identity.ValidatePassword(tc.pw)
		if tc.message == "" {
			assert.NoError(t, err, tc.pw)
			continue
		}
		var de *domain.Error
		require.True(t, errors.As(err, &de), tc.pw)
		assert.Equal(t, domain.CodeInvalid, de.Code)
		assert.Equal(t, "password", de.Field)
		assert.Equal(t, tc.message, de.Message, tc.pw)
	}
}

var cheap = identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	h, err := identity.NewHasher(cheap)
	require.NoError(t, err)
	enc, err := h.Hash("Correct horse 1!")
	require.NoError(t, err)
	assert.Regexp(t, `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, enc)

	enc2, err := h.Hash("Correct horse 1!")
	require.NoError(t, err)
	assert.NotEqual(t, enc, enc2, "salts differ")

	ok, err := h.Verify("Correct horse 1!", enc)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = h.Verify("correct horse 1!", enc)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = h.Verify("Correct horse 1!", "") // unknown user
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = h.Verify("x", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	assert.ErrorIs(t, err, identity.ErrMalformedHash)
	assert.False(t, ok)

	assert.False(t, h.NeedsRehash(enc))
	def, err := identity.NewHasher(identity.HashParams{})
	require.NoError(t, err)
	assert.True(t, def.NeedsRehash(enc))
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// A known answer pins the format: hashes already stored must keep verifying.
func TestVerifyKnownHash(t *testing.T) {
	t.Parallel()
	h, err := identity.NewHasher(cheap)
	require.NoError(t, err)
	enc, err := h.Hash("Pinned-Passw0rd")
	require.NoError(t, err)
	p, err := identity.ParsePHC(enc)
	require.NoError(t, err)
	assert.Equal(t, uint32(64), p.Params.MemoryKiB)
	assert.Len(t, p.Salt, 16)
	assert.Len(t, p.Key, 32)
	path := filepath.Join("testdata", "argon2id.phc")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(enc+"\n"), 0o644))
	}
	golden, err := os.ReadFile(path)
	require.NoError(t, err)
	ok, err := h.Verify("Pinned-Passw0rd", strings.TrimSpace(string(golden)))
	require.NoError(t, err)
	assert.True(t, ok, "a stored hash no longer verifies")
}

func TestParsePHCRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "$", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5",
		"x$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		_, err := identity.ParsePHC(s)
		assert.ErrorIs(t, err, identity.ErrMalformedHash, s)
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := identity.ParsePHC(s)
		if err != nil {
			return
		}
		if p.Params.MemoryKiB > 1<<20 || p.Params.Time == 0 || p.Params.Threads == 0 || len(p.Key) < 16 || len(p.Salt) < 8 {
			t.Fatalf("accepted out-of-range hash %q: %+v", s, p.Params)
		}
	})
}

func TestSigningKeyPersists(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := identity.LoadOrCreateSigningKey(dir)
	require.NoError(t, err)
	assert.Equal(t, 2048, k1.Private.N.BitLen())
	fi, err := os.Stat(filepath.Join(dir, identity.KeyFile))
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	k2, err := identity.LoadOrCreateSigningKey(dir)
	require.NoError(t, err)
	assert.Equal(t, k1.ID, k2.ID)
	assert.True(t, k1.Private.Equal(k2.Private))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temp files left behind")
}

func TestSigningKeyConcurrentCreateAgrees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, err := identity.LoadOrCreateSigningKey(dir)
			if assert.NoError(t, err) {
				ids[i] = k.ID
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
}

func TestSigningKeyRefusesLooseModeAndGarbage(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on windows")
	}
	dir := t.TempDir()
	_, err := identity.LoadOrCreateSigningKey(dir)
	require.NoError(t, err)
	path := filepath.Join(dir, identity.KeyFile)
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = identity.LoadOrCreateSigningKey(dir)
	assert.ErrorContains(t, err, "chmod 600")

	require.NoError(t, os.WriteFile(path, []byte("not a key"), 0o600))
	require.NoError(t, os.Chmod(path, 0o600))
	_, err = identity.LoadOrCreateSigningKey(dir)
	assert.ErrorContains(t, err, "no PKCS#8 PEM block")
}

var (
	keyOnce sync.Once
	testKey *identity.SigningKey
)

func sharedKey(t testing.TB) *identity.SigningKey {
	keyOnce.Do(func() {
		var err error
		testKey, err = identity.GenerateSigningKey()
		if err != nil {
			panic(err)
		}
	})
	return testKey
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newIssuer(t testing.TB, clk clock.Clock) *identity.Issuer {
	is, err := identity.NewIssuer(identity.IssuerConfig{URL: "http://localhost:8080/", ClientID: "local-client", Key: sharedKey(t), Clock: clk})
	require.NoError(t, err)
	return is
}

func TestIssueCognitoShapedTokens(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, clock.Fixed(t0))
	assert.Equal(t, "http://localhost:8080", is.URL())
	p := ident.Principal{TenantID: "t-1", UserID: "u-1", Email: "a@example.com", Roles: []string{ident.RoleTenantAdmin}}
	toks, err := is.Issue(p)
	require.NoError(t, err)
	assert.Equal(t, "Bearer", toks.TokenType)
	assert.Equal(t, 300, toks.ExpiresIn)

	pub := &sharedKey(t).Private.PublicKey
	claims := func(tok string) map[string]any {
		parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
		require.NoError(t, err)
		require.Len(t, parsed.Headers, 1)
		assert.Equal(t, sharedKey(t).ID, parsed.Headers[0].KeyID)
		assert.Equal(t, "RS256", parsed.Headers[0].Algorithm)
		var m map[string]any
		require.NoError(t, parsed.Claims(pub, &m))
		return m
	}
	id := claims(toks.IDToken)
	assert.Equal(t, "id", id["token_use"])
	assert.Equal(t, "local-client", id["aud"])
	assert.Equal(t, "u-1", id["sub"])
	assert.Equal(t, "a@example.com", id["email"])
	assert.Equal(t, "t-1", id["custom:tenant_id"])
	assert.Equal(t, []any{"tenant_admin"}, id["cognito:groups"])
	assert.Equal(t, "http://localhost:8080", id["iss"])
	assert.EqualValues(t, t0.Unix(), id["iat"])
	assert.EqualValues(t, t0.Add(identity.DefaultTokenTTL).Unix(), id["exp"])
	assert.EqualValues(t, t0.Unix(), id["auth_time"])

	acc := claims(toks.AccessToken)
	assert.Equal(t, "access", acc["token_use"])
	assert.Equal(t, "local-client", acc["client_id"])
	assert.NotContains(t, acc, "aud")
	assert.Equal(t, "t-1", acc["custom:tenant_id"])
	assert.Equal(t, []any{"tenant_admin"}, acc["cognito:groups"])
	assert.Equal(t, identity.DefaultScope, acc["scope"])
	assert.NotEmpty(t, acc["jti"])
	assert.EqualValues(t, t0.Add(identity.DefaultTokenTTL).Unix(), acc["exp"])
}

func TestNewIssuerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []identity.IssuerConfig{
		{URL: "localhost:8080", ClientID: "c", Key: sharedKey(t)},
		{URL: "ftp://x", ClientID: "c", Key: sharedKey(t)},
		{URL: "http://x", Key: sharedKey(t)},
		{URL: "http://x", ClientID: "c"},
	} {
		_, err := identity.NewIssuer(cfg)
		assert.Error(t, err, cfg.URL)
	}
}

func TestDiscoveryDocuments(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, clock.Fixed(t0))
	set := is.JWKS()
	require.Len(t, set.Keys, 1)
	k := set.Keys[0]
	assert.True(t, k.IsPublic())
	assert.Equal(t, sharedKey(t).ID, k.KeyID)
	assert.Equal(t, "RS256", k.Algorithm)
	assert.Equal(t, "sig", k.Use)

	doc := is.OpenIDConfiguration()
	assert.Equal(t, "http://localhost:8080", doc.Issuer)
	assert.Equal(t, "http://localhost:8080/.well-known/jwks.json", doc.JWKSURI)
	assert.Equal(t, []string{"RS256"}, doc.IDTokenSigningAlgValuesSupported)
}
