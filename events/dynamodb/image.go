package dynamodb

import (
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/events"
)

// EventItem is the item Append writes for e: what the table's change feeds
// (its stream, its Kinesis streaming destination) carry as the new image.
// Tests and fakes of the feeds build their records from it, so they cannot
// drift from the layout.
func EventItem(e events.Event) map[string]ddbtypes.AttributeValue { return eventItem(e) }
