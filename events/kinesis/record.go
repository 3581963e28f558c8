package kinesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/tenantstream/tenantstream/events"
	ddbstore "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/events/eventbridge"
)

// RecordFormat is the recordFormat of every change record DynamoDB writes to
// a Kinesis data stream.
const RecordFormat = "application/json"

// ErrNotEvent is eventbridge.ErrNotEvent: a valid change that carries no event
// to project (a MODIFY or REMOVE, or an item of another kind). The filter
// criteria of the event source mapping should have dropped it.
var ErrNotEvent = eventbridge.ErrNotEvent

// Identity is a change record's userIdentity: set for deletions made by
// DynamoDB itself (time to live), absent otherwise.
type Identity struct {
	PrincipalID string `json:"principalId"`
	Type        string `json:"type"`
}

// Record is the JSON document a Kinesis record's data holds for one item
// change (Amazon DynamoDB Developer Guide, "Change data capture for Kinesis
// Data Streams"). Unlike a DynamoDB Streams record it has no sequence number
// or stream view type, and ApproximateCreationDateTime is in milliseconds (or
// microseconds, with the table's precision setting).
type Record struct {
	AWSRegion    string    `json:"awsRegion"`
	EventID      string    `json:"eventID"`
	EventName    string    `json:"eventName"`
	UserIdentity *Identity `json:"userIdentity"`
	RecordFormat string    `json:"recordFormat"`
	TableName    string    `json:"tableName"`
	DynamoDB     Change    `json:"dynamodb"`
	EventSource  string    `json:"eventSource"`
}

// Change is a change record's "dynamodb" member.
type Change struct {
	// ApproximateCreationDateTime is in milliseconds since the epoch.
	ApproximateCreationDateTime float64                               `json:"ApproximateCreationDateTime,omitempty"`
	Keys                        map[string]eventbridge.AttributeValue `json:"Keys"`
	NewImage                    map[string]eventbridge.AttributeValue `json:"NewImage,omitempty"`
	OldImage                    map[string]eventbridge.AttributeValue `json:"OldImage,omitempty"`
	SizeBytes                   int64                                 `json:"SizeBytes"`
}

// Decode decodes a Kinesis record's data (already base64-decoded, as Lambda's
// KinesisRecord.Data is) into the stored event it carries, with the checks of
// eventbridge.Decode: the item's key must agree with its tenant_id, stream_id
// and version, because the projector scopes read-model keys by that tenant.
// Errors: ErrNotEvent for changes to skip, or a description of what is
// malformed.
func Decode(data []byte) (events.Event, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return events.Event{}, fmt.Errorf("decode change record: %w", err)
	}
	if r.RecordFormat != RecordFormat {
		return events.Event{}, fmt.Errorf("change record %s: record format %q, want %q", r.EventID, r.RecordFormat, RecordFormat)
	}
	ev, err := eventbridge.DecodeRecord(eventbridge.Record{EventID: r.EventID, EventName: r.EventName, EventSource: r.EventSource,
		AWSRegion: r.AWSRegion, DynamoDB: eventbridge.StreamRecord{Keys: r.DynamoDB.Keys, NewImage: r.DynamoDB.NewImage, OldImage: r.DynamoDB.OldImage,
			SizeBytes: r.DynamoDB.SizeBytes}})
	if err != nil {
		return events.Event{}, fmt.Errorf("decode change record: %w", err)
	}
	// The record's Keys are what DynamoDB partitions the stream by; they must
	// name the item the image describes.
	keys := r.DynamoDB.Keys
	if pk, sk := keys[attrPK], keys[attrSK]; pk.S == nil || sk.N == nil ||
		*pk.S != "T#"+string(ev.TenantID)+"#S#"+string(ev.StreamID) || *sk.N != strconv.FormatInt(ev.Version, 10) {
		return events.Event{}, fmt.Errorf("decode change record %s: Keys do not name the item of tenant %s, stream %s, version %d", r.EventID, ev.TenantID, ev.StreamID, ev.Version)
	}
	return ev, nil
}

// DecodeEventRecord decodes one record of a Kinesis event source mapping's batch.
func DecodeEventRecord(r lambdaevents.KinesisEventRecord) (events.Event, error) {
	if r.EventSource != EventSource {
		return events.Event{}, fmt.Errorf("kinesis record %s: event source %q, want %q", r.EventID, r.EventSource, EventSource)
	}
	ev, err := Decode(r.Kinesis.Data)
	if err != nil {
		return events.Event{}, fmt.Errorf("kinesis record %s: %w", r.Kinesis.SequenceNumber, err)
	}
	return ev, nil
}

// EventSource is the eventSource of a Kinesis event source mapping's records.
const EventSource = "aws:kinesis"

// IsNotEvent reports whether err is a record to skip rather than a failure.
func IsNotEvent(err error) bool { return errors.Is(err, ErrNotEvent) }

const (
	attrPK = ddbstore.AttrPK
	attrSK = ddbstore.AttrSK
)

// FilterPattern is the filter criteria pattern of a projection's event source
// mapping: Lambda decodes each record's data as JSON and keeps the stored
// events (INSERTs of kind event) of the given types (AWS docs: "Filtering
// Kinesis events"). Idempotency records, id claims and the tenant registry
// share the table and are dropped here, as the pipe's filter drops them.
func FilterPattern(types []string) map[string]any {
	ts := make([]any, len(types))
	for i, t := range types {
		ts[i] = t
	}
	return map[string]any{"data": map[string]any{
		"eventName": []any{eventbridge.InsertEvent},
		"dynamodb": map[string]any{"NewImage": map[string]any{
			attrKind: map[string]any{"S": []any{kindEvent}},
			attrType: map[string]any{"S": ts},
		}},
	}}
}

const (
	attrKind  = ddbstore.AttrKind
	attrType  = ddbstore.AttrType
	kindEvent = ddbstore.KindEvent
)
