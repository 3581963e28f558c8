package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// TenantID identifies a tenant. It is built only from a verified principal or from
// trusted server-side data, never from client input (docs/ARCHITECTURE.md, decision 9).
type TenantID string

// StreamID identifies one aggregate's stream inside a tenant.
type StreamID string

const (
	maxTenantIDLen = 64
	maxStreamIDLen = 320 // room for a prefix plus a 256-character item id
)

// validID reports whether s is 1..max characters of [A-Za-z0-9._:-]. '#' and '/'
// are excluded because backends build keys such as T#<tenant>#S#<stream>.
func validID(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':':
		default:
			return false
		}
	}
	return true
}

// Validate reports whether the tenant id is well formed.
func (t TenantID) Validate() error {
	if !validID(string(t), maxTenantIDLen) {
		return fmt.Errorf("%w: tenant id %q must be 1-%d characters of A-Z a-z 0-9 . _ : -", ErrInvalid, string(t), maxTenantIDLen)
	}
	return nil
}

// Validate reports whether the stream id is well formed.
func (s StreamID) Validate() error {
	if !validID(string(s), maxStreamIDLen) {
		return fmt.Errorf("%w: stream id %q must be 1-%d characters of A-Z a-z 0-9 . _ : -", ErrInvalid, string(s), maxStreamIDLen)
	}
	return nil
}

// Event is the immutable envelope of every stored event (docs/ARCHITECTURE.md, decision 1).
type Event struct {
	ID            string          `json:"id"`
	TenantID      TenantID        `json:"tenant_id"`
	StreamID      StreamID        `json:"stream_id"`
	StreamType    string          `json:"stream_type"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Actor         string          `json:"actor,omitempty"`
	Data          json.RawMessage `json:"data"`

	// Position is the backend's store-wide position (SQLite's rowid); 0 where the
	// backend has none (DynamoDB). It is not part of the serialized envelope.
	Position int64 `json:"-"`
	// Erased is set by the sealing layer (events/shred) on an event whose
	// sealed fields could not be opened because the tenant's data key was
	// destroyed: Data is then the redacted form, those fields null
	// (docs/ARCHITECTURE.md, decision 19). Not part of the serialized envelope.
	Erased bool `json:"-"`
}

// NewEvent is one event to append; the store fills in the rest of the envelope.
type NewEvent struct {
	// ID is optional; a UUIDv7 is generated when empty.
	ID string
	// Type is the stable type name, such as "tenant.onboarded".
	Type string
	// SchemaVersion defaults to 1.
	SchemaVersion int
	// OccurredAt is business time; it defaults to the recording time.
	OccurredAt time.Time
	// Data must be a JSON object.
	Data json.RawMessage
}

// ExpectedVersion is the optimistic-concurrency precondition of an append.
// NoStream (0) requires that the stream has no events; AnyVersion skips the check;
// a positive value requires exactly that current version.
type ExpectedVersion int64

const (
	// AnyVersion appends whatever the stream's version.
	AnyVersion ExpectedVersion = -1
	// NoStream requires that the stream does not exist yet.
	NoStream ExpectedVersion = 0
)

// Exactly requires the stream to be at version v (v = 0 means no stream).
func Exactly(v int64) ExpectedVersion { return ExpectedVersion(v) }

// AppendRequest appends events atomically to one stream.
type AppendRequest struct {
	Tenant     TenantID
	Stream     StreamID
	StreamType string
	Expected   ExpectedVersion
	// IdempotencyKey, when set, makes a retried append return the first result and
	// write nothing. Keys are scoped to the tenant and remembered for
	// IdempotencyKeyTTL after their first use; after that a key is new again.
	IdempotencyKey string
	// Fingerprint, with IdempotencyKey, names the request the key is used for (a
	// hash of what the request means). It is stored with the key, and a retry
	// whose fingerprint or stream differs fails with ErrIdempotencyKeyReuse
	// instead of answering with the first result.
	Fingerprint   string
	CorrelationID string
	CausationID   string
	Actor         string
	// SkipDuplicateIDs drops, instead of writing, every event whose ID the tenant
	// already holds from an earlier SkipDuplicateIDs append (or that repeats an ID
	// earlier in the same request), and reports how many in AppendResult.Skipped.
	// Usage ingestion uses it with ids derived from client usage ids, so a retried
	// usage record is never stored (or billed) twice. When set, every event must
	// carry an ID. If every event is skipped nothing is written and the expected
	// version is not checked.
	SkipDuplicateIDs bool
	// ClaimKeys are tenant-scoped unique keys this append claims, such as the ids
	// of the usage records its events carry. If the tenant already claimed any of
	// them the append fails with ErrKeyClaimed and writes nothing; otherwise the
	// keys are recorded in the same transaction as the events. Stores that
	// support it implement KeyClaimer.
	ClaimKeys []string
	// ClaimTTL, when positive, is how long the claims must at least be kept: a
	// store may forget them after (DynamoDB expires them with its TTL, so they
	// stop costing storage); 0 keeps them for good. Usage claims live as long as
	// a record with their id can still be accepted (the usage window).
	ClaimTTL time.Duration
	Events   []NewEvent
}

// AppendResult is what an append wrote (or, for a retry, what the first attempt wrote).
type AppendResult struct {
	// Events are the stored envelopes, in version order.
	Events []Event
	// Duplicate is true when the idempotency key had already been used and nothing was written.
	Duplicate bool
	// Skipped counts events dropped by SkipDuplicateIDs; Events holds only those written.
	Skipped int
}

// IdempotencyKeyTTL is how long a store remembers an idempotency key after the
// append that first used it (docs/ARCHITECTURE.md, Idempotency): at least as
// long as Stripe's 24 hours, so any client retry schedule fits.
const IdempotencyKeyTTL = 24 * time.Hour

// IdempotencyRecord is what a store remembers of an idempotency key: the stream
// and fingerprint of the append that first used it, and what that append wrote.
type IdempotencyRecord struct {
	Stream      StreamID
	Fingerprint string
	// Result is the first append's result, with Duplicate set.
	Result AppendResult
	// Created is when the key was first used (the store's clock); the key is
	// forgotten at Created + IdempotencyKeyTTL.
	Created time.Time
}

// Matches reports whether an append for stream with fingerprint is a retry of
// the one the record remembers. A record stored without a fingerprint (before
// fingerprints existed) matches by stream alone.
func (r IdempotencyRecord) Matches(stream StreamID, fingerprint string) bool {
	return r.Stream == stream && (r.Fingerprint == "" || r.Fingerprint == fingerprint)
}

// IdempotencyExpired reports whether a key first used at created is forgotten at now.
func IdempotencyExpired(created, now time.Time) bool {
	return !now.Before(created.Add(IdempotencyKeyTTL))
}

// LastVersion returns the stream version after the append.
func (r AppendResult) LastVersion() int64 {
	if len(r.Events) == 0 {
		return 0
	}
	return r.Events[len(r.Events)-1].Version
}

// Limits bound what one append may carry (docs/ARCHITECTURE.md, decision 11).
type Limits struct {
	MaxDataBytes       int // per event, default 64 KiB
	MaxEventsPerAppend int // default 100, DynamoDB's transaction limit
	MaxClaimKeys       int // per append; 0 means the default, 1,000
}

// DefaultLimits are the limits every backend enforces unless configured otherwise.
var DefaultLimits = Limits{MaxDataBytes: 64 << 10, MaxEventsPerAppend: 100, MaxClaimKeys: 1000}

const defaultMaxClaimKeys = 1000

const maxMetaLen = 256

// Validate checks an append request against the limits; backends call it first so
// every backend rejects the same requests with the same errors.
func (r *AppendRequest) Validate(l Limits) error {
	if err := r.Tenant.Validate(); err != nil {
		return err
	}
	if err := r.Stream.Validate(); err != nil {
		return err
	}
	if r.Expected < AnyVersion {
		return fmt.Errorf("%w: expected version %d", ErrInvalid, r.Expected)
	}
	if len(r.Events) == 0 {
		return fmt.Errorf("%w: append to %s with no events", ErrInvalid, r.Stream)
	}
	if len(r.Events) > l.MaxEventsPerAppend {
		return fmt.Errorf("%w: %d events in one append, limit %d", ErrTooLarge, len(r.Events), l.MaxEventsPerAppend)
	}
	for _, s := range []string{r.StreamType, r.IdempotencyKey, r.Fingerprint, r.CorrelationID, r.CausationID, r.Actor} {
		if len(s) > maxMetaLen {
			return fmt.Errorf("%w: metadata longer than %d bytes", ErrInvalid, maxMetaLen)
		}
	}
	maxKeys := l.MaxClaimKeys
	if maxKeys <= 0 {
		maxKeys = defaultMaxClaimKeys
	}
	if len(r.ClaimKeys) > maxKeys {
		return fmt.Errorf("%w: %d claim keys in one append, limit %d", ErrTooLarge, len(r.ClaimKeys), maxKeys)
	}
	if len(r.ClaimKeys) > 0 {
		seen := make(map[string]struct{}, len(r.ClaimKeys))
		for _, k := range r.ClaimKeys {
			if k == "" || len(k) > maxMetaLen {
				return fmt.Errorf("%w: claim keys must be 1-%d bytes", ErrInvalid, maxMetaLen)
			}
			if _, dup := seen[k]; dup {
				return fmt.Errorf("%w: claim key %q given twice", ErrInvalid, k)
			}
			seen[k] = struct{}{}
		}
	}
	for i := range r.Events {
		e := &r.Events[i]
		if e.Type == "" || len(e.Type) > maxMetaLen {
			return fmt.Errorf("%w: event %d has no type", ErrInvalid, i)
		}
		if len(e.ID) > maxMetaLen {
			return fmt.Errorf("%w: event %d id too long", ErrInvalid, i)
		}
		if r.SkipDuplicateIDs && e.ID == "" {
			return fmt.Errorf("%w: event %d has no id, which SkipDuplicateIDs needs", ErrInvalid, i)
		}
		if e.SchemaVersion < 0 {
			return fmt.Errorf("%w: event %d schema version %d", ErrInvalid, i, e.SchemaVersion)
		}
		if len(e.Data) > l.MaxDataBytes {
			return fmt.Errorf("%w: event %d (%s) data is %d bytes, limit %d", ErrTooLarge, i, e.Type, len(e.Data), l.MaxDataBytes)
		}
		if !isJSONObject(e.Data) {
			return fmt.Errorf("%w: event %d (%s) data must be a JSON object", ErrInvalid, i, e.Type)
		}
	}
	return nil
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && json.Valid(b)
}

// Build fills in the envelope of the request's events as they will be stored at
// versions first, first+1, ... It generates missing ids (UUIDv7) and defaults.
func (r *AppendRequest) Build(first int64, recordedAt time.Time) ([]Event, error) {
	out := make([]Event, len(r.Events))
	recordedAt = recordedAt.UTC()
	for i, ne := range r.Events {
		id := ne.ID
		if id == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("event id: %w", err)
			}
			id = u.String()
		}
		sv := ne.SchemaVersion
		if sv == 0 {
			sv = 1
		}
		occ := ne.OccurredAt
		if occ.IsZero() {
			occ = recordedAt
		}
		out[i] = Event{
			ID: id, TenantID: r.Tenant, StreamID: r.Stream, StreamType: r.StreamType,
			Version: first + int64(i), Type: ne.Type, SchemaVersion: sv,
			OccurredAt: occ.UTC(), RecordedAt: recordedAt,
			CorrelationID: r.CorrelationID, CausationID: r.CausationID, Actor: r.Actor,
			Data: compactJSON(ne.Data),
		}
	}
	return out, nil
}

func compactJSON(b []byte) json.RawMessage { return AppendCompact(nil, b) }

// AppendCompact appends b without insignificant whitespace; b must be valid JSON
// (Validate checked it), else it is appended as is. encoding/json's output, which
// is what commands store, has no whitespace at all, so it is copied after one
// cheap scan instead of being parsed again.
func AppendCompact(dst, b []byte) []byte {
	if !bytes.ContainsAny(b, " \t\r\n") {
		return append(dst, b...)
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, b); err != nil {
		return append(dst, b...)
	}
	return buf.Bytes()
}
