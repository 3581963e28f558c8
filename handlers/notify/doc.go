// Package notify delivers outbox notifications to the log, a JSON-lines file and signed webhooks.
package notify
