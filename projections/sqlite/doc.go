// Package sqlite stores read models, checkpoints, parked events, generations and feed cursors in a SQLite database.
package sqlite
