// Package schema registers every domain event type under its stable name and schema version.
package schema
