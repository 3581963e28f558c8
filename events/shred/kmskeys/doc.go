// Package kmskeys keeps each tenant's data key under a KMS key of the tenant's own, with its wrapped form in the events table, so disabling that one key erases the tenant everywhere (docs/ARCHITECTURE.md, decision 19).
package kmskeys
