// Package commands holds one file per command: authorize, validate, load, decide and append events.
package commands
