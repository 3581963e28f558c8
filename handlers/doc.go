// Package handlers holds the delivery adapters: the HTTP API, Lambda adapters, error mapping and auth.
package handlers
