// Package dynamodb shares tenants' rate-limit buckets between api function
// instances: one GCRA item per (tenant, policy) in DynamoDB, taken in leases of
// several requests so most requests write nothing (docs/aws.md, "Tenant rate
// limits").
package dynamodb
