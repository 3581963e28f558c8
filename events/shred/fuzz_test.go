package shred_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/shred"
)

// Any JSON object a client can put into a sealed event comes back byte for
// byte, or is refused as invalid; nothing else (no panic, no other error).
func FuzzSealRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{"item_id":"a","data":{"x":1}}`, `{"data":null}`, `{"data":"\u00e9\ud83d\ude00"}`, `{"records":[{"properties":{"a":"b"}},{}]}`,
		`{"records":[{"properties":{"a":1}}]}`, `{"records":{"x":1}}`, `{"records":[1,2]}`, `{"_sealed":"m1.AAAA","data":{}}`,
		`{"data":{"_sealed":"x"}}`, `{"a":1,"a":2,"data":[1]}`, `{}`,
	} {
		f.Add(s)
	}
	spec := shred.Specs{"t": {Fields: []shred.Field{{Path: "data"}, {Path: "records[].properties", Mode: shred.HashValues}}}}
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) {
			return
		}
		s, err := shred.New(memstore.New(memstore.WithLimits(shred.SealedLimits(events.DefaultLimits))), shred.NewMemoryKeyring(), spec)
		require.NoError(t, err)
		res, err := s.Append(context.Background(), events.AppendRequest{Tenant: "t1", Stream: "s", Expected: events.AnyVersion,
			Events: []events.NewEvent{{Type: "t", Data: json.RawMessage(data)}}})
		if err != nil {
			assert.ErrorIs(t, err, events.ErrInvalid)
			return
		}
		evs, err := s.Load(context.Background(), "t1", "s", 1)
		require.NoError(t, err)
		assert.Equal(t, string(res.Events[0].Data), string(evs[0].Data))
	})
}
