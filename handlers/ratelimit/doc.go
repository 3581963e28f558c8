// Package ratelimit is a small in-memory rate limiter per client address: a token
// bucket per key (kept as one GCRA time each) in a bounded table that never fails
// open. It guards the anonymous routes of one process; see docs/api.md for what
// guards them across processes.
package ratelimit
