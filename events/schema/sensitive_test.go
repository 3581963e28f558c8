package schema

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/shred"
)

// Every registered type decides what of it is sealed.
func TestEveryTypeIsSealedOrClear(t *testing.T) {
	types := Registry.Types()
	sort.Strings(types)
	for _, typ := range types {
		_, sealed := Sensitive[typ]
		_, clear := Clear[typ]
		assert.True(t, sealed != clear, "%s must be in exactly one of Sensitive and Clear", typ)
	}
	for typ := range Sensitive {
		assert.Contains(t, types, typ)
	}
	for typ := range Clear {
		assert.Contains(t, types, typ)
	}
	_, err := shred.New(memstore.New(), shred.NewMemoryKeyring(), Sensitive)
	require.NoError(t, err, "the table compiles")
}

var ciphertext = regexp.MustCompile(`"_sealed":"([a-z0-9]+)\.([A-Za-z0-9_-]+)"`)

// The stored form of every sealed type: which fields stay in clear and which
// are sealed (the ciphertext, random by its nonce, is shown by its size).
// After erasure each still decodes, with its sealed fields empty.
func TestSealedGolden(t *testing.T) {
	ctx := context.Background()
	for typ, payload := range samples() {
		spec, ok := Sensitive[typ]
		if !ok {
			continue
		}
		t.Run(typ, func(t *testing.T) {
			inner := memstore.New(memstore.WithLimits(shred.SealedLimits(events.DefaultLimits)))
			keys := shred.NewMemoryKeyring()
			keys.Fixed = make([]byte, shred.KeySize)
			s, err := shred.New(inner, keys, Sensitive)
			require.NoError(t, err)
			ne, err := Registry.New(payload)
			require.NoError(t, err)
			ne.ID = "0190a0b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b"
			tenantID := events.TenantID("01a2-tenant")
			if spec.KeyTenant != "" {
				tenantID = "_platform"
			}
			_, err = s.Append(ctx, events.AppendRequest{Tenant: tenantID, Stream: "s", Expected: events.NoStream, Events: []events.NewEvent{ne}})
			require.NoError(t, err)
			stored, err := inner.Load(ctx, tenantID, "s", 1)
			require.NoError(t, err)
			shown := ciphertext.ReplaceAllStringFunc(string(stored[0].Data), func(m string) string {
				sub := ciphertext.FindStringSubmatch(m)
				return fmt.Sprintf(`"_sealed":"%s.[%d bytes of nonce, ciphertext and tag]"`, sub[1], base64.RawURLEncoding.DecodedLen(len(sub[2])))
			})
			var pretty json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(shown), &pretty))
			got, err := json.MarshalIndent(pretty, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", "sealed", typ+".golden.json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./events/schema -update to create it")
			assert.JSONEq(t, string(want), string(got), "the sealed form of %s changed", typ)

			opened, err := s.Load(ctx, tenantID, "s", 1)
			require.NoError(t, err)
			assert.Equal(t, string(ne.Data), string(opened[0].Data))

			keyTenant := events.TenantID("01a2-tenant")
			require.NoError(t, s.Erase(ctx, keyTenant))
			erased, err := s.Load(ctx, tenantID, "s", 1)
			require.NoError(t, err)
			assert.True(t, erased[0].Erased)
			_, err = Registry.Decode(erased[0])
			require.NoError(t, err, "an erased %s still decodes", typ)
		})
	}
}
