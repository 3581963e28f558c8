package commands_test

import (
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

func schemaNew(payload any) (events.NewEvent, error) { return schema.Registry.New(payload) }
