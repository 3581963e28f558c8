package commands

import "time"

// StoreRetryAfter is the Retry-After of the 503 a write gets when the store cannot
// take it for now: out of space, or throttled (docs/api.md, "Errors").
const StoreRetryAfter = 5 * time.Second

// retryLater is a cause that knows when a retry may succeed; the delivery layer
// turns RetryAfter into a Retry-After header.
type retryLater struct {
	err   error
	after time.Duration
}

func (e *retryLater) Error() string             { return e.err.Error() }
func (e *retryLater) Unwrap() error             { return e.err }
func (e *retryLater) RetryAfter() time.Duration { return e.after }
