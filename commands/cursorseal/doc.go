// Package cursorseal makes the event-log cursors the API hands out opaque and bound to one tenant.
package cursorseal
