package schema

import "github.com/tenantstream/tenantstream/events"

func registerBilling(r *events.Registry) {}
