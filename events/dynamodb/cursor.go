package dynamodb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/tenantstream/tenantstream/events"
)

// Cursor prefixes name the kind and version of the format, so a cursor of another
// store, or of ReadAll given to ReadTenant, is rejected instead of misread.
const (
	tenantCursorPrefix = "dt1."
	allCursorPrefix    = "da1."
)

// tenantCursor resumes a tenant's history: every index key at or below Low has been
// examined, and Seen holds (recorded_at, key hash) of the events examined above Low.
type tenantCursor struct {
	Low  string      `json:"l,omitempty"`
	Seen [][2]uint64 `json:"s,omitempty"`
}

// allCursor keeps one tenant cursor per tenant read so far.
type allCursor struct {
	Tenants map[string]tenantCursor `json:"t,omitempty"`
}

func hashKey(sk string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(sk))
	return h.Sum64()
}

func encode(prefix string, v any) events.Cursor {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode cursor: %v", err)) // plain structs always marshal
	}
	return events.Cursor(prefix + base64.RawURLEncoding.EncodeToString(b))
}

func decode(c events.Cursor, prefix string, v any) error {
	rest, ok := strings.CutPrefix(string(c), prefix)
	if !ok {
		return fmt.Errorf("parse cursor %.40q: %w", string(c), events.ErrInvalidCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return fmt.Errorf("parse cursor %.40q: %w", string(c), events.ErrInvalidCursor)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return fmt.Errorf("parse cursor %.40q: %w", string(c), events.ErrInvalidCursor)
	}
	return nil
}

func (c tenantCursor) valid() bool {
	if c.Low == "" {
		return len(c.Seen) == 0
	}
	if len(c.Low) < 16 {
		return false
	}
	for i := range 16 {
		if c.Low[i] < '0' || c.Low[i] > '9' {
			return false
		}
	}
	return len(c.Low) == 16 || c.Low[16] == '#'
}

func formatTenantCursor(c tenantCursor) events.Cursor { return encode(tenantCursorPrefix, c) }

func parseTenantCursor(c events.Cursor) (tenantCursor, error) {
	var tc tenantCursor
	if c == "" {
		return tc, nil
	}
	if err := decode(c, tenantCursorPrefix, &tc); err != nil {
		return tc, err
	}
	if !tc.valid() {
		return tc, fmt.Errorf("parse cursor: %w", events.ErrInvalidCursor)
	}
	return tc, nil
}

func formatAllCursor(c allCursor) events.Cursor { return encode(allCursorPrefix, c) }

func parseAllCursor(c events.Cursor) (allCursor, error) {
	ac := allCursor{}
	if c != "" {
		if err := decode(c, allCursorPrefix, &ac); err != nil {
			return ac, err
		}
	}
	if ac.Tenants == nil {
		ac.Tenants = map[string]tenantCursor{}
	}
	for t, tc := range ac.Tenants {
		if events.TenantID(t).Validate() != nil || !tc.valid() {
			return ac, fmt.Errorf("parse cursor: %w", events.ErrInvalidCursor)
		}
	}
	return ac, nil
}
