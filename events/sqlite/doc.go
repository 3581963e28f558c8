// Package sqlite implements events.Store on a SQLite file with a single group-committing writer.
package sqlite
