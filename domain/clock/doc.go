// Package clock defines the injected Clock, the system clock and the forward-only test clock.
package clock
