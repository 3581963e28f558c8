// Package tenantcreds vends AWS credentials scoped to one tenant by assuming a role with a TenantId session tag, and caches them, and SDK clients built with them, per tenant.
package tenantcreds
