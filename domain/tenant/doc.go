// Package tenant defines the tenant and user aggregates: names, emails, plans and their events.
package tenant
