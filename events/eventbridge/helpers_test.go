package eventbridge_test

import (
	"errors"

	"github.com/tenantstream/tenantstream/events/eventbridge"
)

func errorsIsNotEvent(err error) bool { return errors.Is(err, eventbridge.ErrNotEvent) }
