// Package shred seals the personal fields of events under per-tenant data keys, so destroying a tenant's key erases them everywhere at once (crypto-shredding, docs/ARCHITECTURE.md decision 19).
package shred
