// Package clock provides the injected clock every time-dependent piece of tenantstream uses.
package clock

import (
	"errors"
	"sync"
	"time"
)

// Clock tells the current time. Production code never calls time.Now directly.
type Clock interface {
	Now() time.Time
}

// System is the wall clock, in UTC.
type System struct{}

// Now returns the current UTC time.
func (System) Now() time.Time { return time.Now().UTC() }

// ErrBackwards is returned when a test clock is asked to move into the past.
var ErrBackwards = errors.New("clock: test clock only moves forward")

// Test is a settable clock for tests and for the dev-only test clock (docs/ARCHITECTURE.md, decision 8).
// Until it is first set it follows the wall clock plus the offset set so far, so an
// idle test clock still advances.
type Test struct {
	mu     sync.Mutex
	offset time.Duration
	base   func() time.Time
}

// NewTest returns a test clock that starts at now.
func NewTest(now time.Time) *Test {
	t := &Test{base: func() time.Time { return time.Now().UTC() }}
	t.offset = now.Sub(t.base())
	return t
}

// Now returns the simulated time.
func (t *Test) Now() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.base().Add(t.offset).UTC()
}

// Set moves the clock to now; it never moves backwards.
func (t *Test) Set(now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.base().Add(t.offset)
	if now.Before(cur) {
		return ErrBackwards
	}
	t.offset = now.Sub(t.base())
	return nil
}

// Fixed is a clock frozen at one instant, for pure tests.
type Fixed time.Time

// Now returns the fixed instant.
func (f Fixed) Now() time.Time { return time.Time(f).UTC() }
