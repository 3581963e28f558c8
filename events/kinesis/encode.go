package kinesis

import (
	"encoding/json"
	"fmt"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/events"
	ddbstore "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/events/eventbridge"
)

// PartitionKey is the Kinesis partition key of e's change: all changes of an
// item share one, so they land on one shard. DynamoDB derives its own from the
// item's key and does not document how; what matters, and what the fakes
// keep, is that one stream's versions never spread over shards.
func PartitionKey(e events.Event) string {
	return "T#" + string(e.TenantID) + "#S#" + string(e.StreamID)
}

// ChangeRecord is the record DynamoDB writes to the stream when e is appended
// to table: an INSERT of the item events/dynamodb stores, in the documented
// format. Tests and fakes of the feed build their records with it.
func ChangeRecord(e events.Event, table, region string) ([]byte, error) {
	item := ddbstore.EventItem(e)
	img := fromItem(item)
	r := Record{
		AWSRegion: region, EventID: "ev-" + e.ID, EventName: eventbridge.InsertEvent, RecordFormat: RecordFormat,
		TableName: table, EventSource: eventbridge.EventSource,
		DynamoDB: Change{
			ApproximateCreationDateTime: float64(e.RecordedAt.UnixMilli()),
			Keys:                        map[string]eventbridge.AttributeValue{attrPK: img[attrPK], attrSK: img[attrSK]},
			NewImage:                    img,
			SizeBytes:                   int64(len(e.Data)) + 300,
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode change record of %s: %w", e.ID, err)
	}
	return b, nil
}

func fromItem(it map[string]ddbtypes.AttributeValue) map[string]eventbridge.AttributeValue {
	out := make(map[string]eventbridge.AttributeValue, len(it))
	for k, v := range it {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			out[k] = eventbridge.AttributeValue{S: &v.Value}
		case *ddbtypes.AttributeValueMemberN:
			out[k] = eventbridge.AttributeValue{N: &v.Value}
		}
	}
	return out
}
