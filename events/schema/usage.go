package schema

import (
	"fmt"

	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
)

// UsageRecords returns the usage records a usage event carries: one for
// usage.recorded, many for usage.reported. Billing and the ledgers projection
// read usage through it, so both see the same records.
func UsageRecords(ev events.Event) ([]metering.Recorded, error) {
	switch ev.Type {
	case metering.TypeReported:
		r, err := events.DecodeAs[metering.Reported](Registry, ev)
		if err != nil {
			return nil, err
		}
		return r.Records, nil
	case metering.TypeRecorded:
		r, err := events.DecodeAs[metering.Recorded](Registry, ev)
		if err != nil {
			return nil, err
		}
		return []metering.Recorded{r}, nil
	}
	return nil, fmt.Errorf("usage records of %s: %w", ev.Type, events.ErrUnknownType)
}
