// Package member is a tenant's people: its roster of members and their roles, their sessions, invitations and password resets, as stored events (docs/ARCHITECTURE.md, decision 15).
package member
