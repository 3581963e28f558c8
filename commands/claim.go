package commands

import (
	"context"
	"errors"
	"time"

	"github.com/tenantstream/tenantstream/domain"
)

// Claims of requests that write more than once (docs/ARCHITECTURE.md, decision 13).
const (
	// ClaimLease is how long a claim holds a key (or an email) for the attempt
	// that made it; an older claim was left by a crash and may be taken over.
	ClaimLease = 30 * time.Second
	// claimWait is how long the retry of a running request waits for its answer
	// before it is told the request is still in progress.
	claimWait = 2 * time.Second
	// claimPoll is how soon a waiting retry first looks for the answer again;
	// the wait doubles up to claimPollMax, so a retry that waits the whole
	// claimWait reads the answer's key about a dozen times, not eighty (40
	// concurrent copies of one report on DynamoDB would otherwise cost 3,200
	// reads).
	claimPoll    = 25 * time.Millisecond
	claimPollMax = 250 * time.Millisecond
)

// errInProgress answers the retry of a keyed request whose first attempt is
// still running (Stripe answers the same 409).
var errInProgress = &domain.Error{Code: domain.CodeConflict, Field: "Idempotency-Key",
	Message: "a request with this Idempotency-Key is still in progress; retry it shortly",
	Err:     &retryLater{err: errors.New("claim held by a running attempt"), after: time.Second}}

// awaitClaim waits while a claim made at claimedAt is held by another attempt.
// answered reports whether the claimed request has its answer (then done is
// true); takeover is true once the claim has outlived ClaimLease, and the
// caller runs the request again. A claim still held after claimWait is a 409.
func (s *Service) awaitClaim(ctx context.Context, claimedAt time.Time, answered func() (bool, error)) (takeover bool, err error) {
	deadline := time.Now().Add(claimWait)
	for poll := claimPoll; ; poll = min(2*poll, claimPollMax) {
		done, err := answered()
		if err != nil || done {
			return false, err
		}
		if s.Clock.Now().Sub(claimedAt) >= ClaimLease {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, errInProgress
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}
