package apikey_test

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/apikey"
)

func TestKeysRoundTripAndTyposFail(t *testing.T) {
	k, err := apikey.New(rand.Reader)
	require.NoError(t, err)
	s := k.String()
	assert.Len(t, s, apikey.Len)
	assert.True(t, apikey.LooksLike(s))
	got, err := apikey.Parse(s)
	require.NoError(t, err)
	assert.Equal(t, k, got)
	assert.True(t, apikey.ValidID(k.ID))
	for i := len(apikey.Prefix); i < len(s); i++ {
		for _, c := range []byte("a7") {
			if s[i] == c {
				continue
			}
			bad := s[:i] + string(c) + s[i+1:]
			_, err := apikey.Parse(bad)
			assert.ErrorIs(t, err, apikey.ErrMalformed, "changed at %d", i)
		}
	}
	for _, bad := range []string{"", apikey.Prefix, s[:len(s)-1], s + "a", strings.ToUpper(s), "tsk_test_" + s[len(apikey.Prefix):]} {
		_, err := apikey.Parse(bad)
		assert.ErrorIs(t, err, apikey.ErrMalformed, bad)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts prints back as itself.
func FuzzParse(f *testing.F) {
	k, _ := apikey.New(strings.NewReader(strings.Repeat("seed-bytes", 3)))
	for _, s := range []string{k.String(), "", apikey.Prefix, k.String()[:40], k.String() + "x", "tsk_live_\x00\xff", strings.Repeat("a", apikey.Len)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := apikey.Parse(s)
		if err != nil {
			return
		}
		if got.String() != s {
			t.Fatalf("Parse(%q) = %+v, which prints as %q", s, got, got.String())
		}
	})
}
