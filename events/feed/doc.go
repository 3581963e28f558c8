// Package feed is the local change feed: a tail that reads a Store from a persisted cursor and hands batches to a handler.
package feed
