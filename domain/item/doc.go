// Package item defines a tenant's stored data items, their ids and their events.
package item
