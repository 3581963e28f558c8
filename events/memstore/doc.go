// Package memstore is an in-memory events.Store and events.Notifier: the fast, race-clean fake for tests.
package memstore
