package events

import "context"

// Cursor is an opaque, resumable position in a history read. The zero Cursor is
// the beginning. Cursors are only meaningful to the store that produced them.
type Cursor string

// ReadOptions narrows a history read.
type ReadOptions struct {
	// Limit caps the events in one page; 0 means the store's default (1,000).
	Limit int
	// Types, when not empty, returns only events of these types; the cursor still
	// advances past the others.
	Types []string
}

// Page is one page of a history read.
type Page struct {
	Events []Event
	// Next resumes the read after the last event examined. When the history is
	// exhausted Next still points at its end, so a tail can resume from it later.
	Next Cursor
	// More is true when the store knows more events follow.
	More bool
}

// Store is a tenant-partitioned, append-only event store (docs/ARCHITECTURE.md, decisions 1-3).
// Every backend passes the contract suite in events/storetest unchanged.
type Store interface {
	// Append writes req.Events atomically at the next versions of the stream.
	// Errors: ErrInvalid (malformed request), ErrTooLarge (data or event count over
	// the limits), ErrConcurrency (req.Expected does not match), ErrIdempotencyKeyReuse
	// (key used before for another stream or with another Fingerprint), ErrClosed,
	// or a wrapped backend error. A retry with the same IdempotencyKey, stream and
	// Fingerprint returns the first result with Duplicate set, whatever
	// req.Expected says, while the key is remembered (IdempotencyKeyTTL); the key
	// is checked before the expected version.
	Append(ctx context.Context, req AppendRequest) (AppendResult, error)

	// Idempotency returns what the store remembers of the tenant's idempotency key:
	// found is false for a key never used or used more than IdempotencyKeyTTL ago.
	// Commands ask before they check preconditions, so that the retry of a write
	// that succeeded gets the first answer rather than a failed precondition.
	// Errors: ErrInvalid, ErrClosed.
	Idempotency(ctx context.Context, tenant TenantID, key string) (rec IdempotencyRecord, found bool, err error)

	// Load returns the stream's events with version >= from (from < 1 means 1), in
	// version order. Errors: ErrNotFound if the stream has no events at all,
	// ErrInvalid for malformed ids, ErrClosed.
	Load(ctx context.Context, tenant TenantID, stream StreamID, from int64) ([]Event, error)

	// ReadTenant reads one tenant's history after cursor. Each stream's events come
	// in version order; the interleaving of streams carries no meaning.
	// Errors: ErrInvalidCursor, ErrInvalid, ErrClosed.
	ReadTenant(ctx context.Context, tenant TenantID, after Cursor, opts ReadOptions) (Page, error)

	// ReadAll reads every tenant's history after cursor, with the same ordering
	// guarantee as ReadTenant. Errors: ErrInvalidCursor, ErrClosed.
	ReadAll(ctx context.Context, after Cursor, opts ReadOptions) (Page, error)

	// Close releases the store; later calls return ErrClosed.
	Close() error
}

// Notifier is implemented by stores that can wake in-process tails after commits.
// The channel receives (without blocking the writer) after each committed batch.
type Notifier interface {
	Subscribe() (ch <-chan struct{}, cancel func())
}

// ReplayOptions narrows a full-history replay.
type ReplayOptions struct {
	// Tenant, when set, replays only that tenant's history.
	Tenant TenantID
	// Types, when not empty, delivers only events of these types; the others are
	// never decoded.
	Types []string
	// After resumes after a cursor from ReadAll, ReadTenant or an earlier Replay.
	After Cursor
}

// Replayer is implemented by stores that can stream their whole history much faster
// than paging through ReadAll, for projection rebuilds (docs/ARCHITECTURE.md, decision 5). fn is
// called from one goroutine, in position order, so each stream's events arrive in
// version order; the history is streamed, never held in memory at once.
type Replayer interface {
	// Replay calls fn for every matching event present when it starts and returns
	// the cursor after the last position it examined, from which a tail continues.
	// An error from fn stops the replay and is returned wrapped.
	// Errors: ErrInvalidCursor, ErrInvalid, ErrClosed, ctx.Err().
	Replay(ctx context.Context, opts ReplayOptions, fn func(Event) error) (Cursor, error)
}

// KeyClaimer is implemented by stores that support AppendRequest.ClaimKeys.
type KeyClaimer interface {
	// ClaimedKeys returns which of keys the tenant has already claimed.
	// Errors: ErrInvalid, ErrClosed.
	ClaimedKeys(ctx context.Context, tenant TenantID, keys []string) (map[string]bool, error)
}
