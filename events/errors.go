package events

import (
	"errors"
	"fmt"
)

// The errors every Store returns, whatever its backend. Backends wrap them with
// context; callers test with errors.Is.
var (
	// ErrConcurrency: the stream's version differs from the expected version.
	ErrConcurrency = errors.New("events: concurrency conflict: stream version differs from expected")
	// ErrNotFound: the stream has no events.
	ErrNotFound = errors.New("events: stream not found")
	// ErrTooLarge: an event's data or an append's event count exceeds the store's limit.
	ErrTooLarge = errors.New("events: too large")
	// ErrInvalid: the append request is malformed (bad ids, no events, data not a JSON object...).
	ErrInvalid = errors.New("events: invalid request")
	// ErrIdempotencyKeyReuse: an idempotency key was reused for a different stream.
	ErrIdempotencyKeyReuse = errors.New("events: idempotency key reused for a different request")
	// ErrInvalidCursor: a cursor was not produced by this store.
	ErrInvalidCursor = errors.New("events: invalid cursor")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("events: store closed")
	// ErrKeyClaimed: an append's claim key was already claimed by the tenant.
	ErrKeyClaimed = errors.New("events: key already claimed")
	// ErrUnknownType: the registry has no such event type.
	ErrUnknownType = errors.New("events: unknown event type")
	// ErrUnavailable: the store cannot take the write now but may soon (out of
	// space, throttled). Nothing was written; the same request may be retried.
	ErrUnavailable = errors.New("events: store unavailable, retry later")
	// ErrStorageFull: the store has no room to grow (the disk is full, or a size
	// cap is reached). It is an ErrUnavailable.
	ErrStorageFull = fmt.Errorf("events: no space left: %w", ErrUnavailable)
)
