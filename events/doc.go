// Package events defines the event envelope, the type registry with upcasters, the errors and the Store interface.
package events
