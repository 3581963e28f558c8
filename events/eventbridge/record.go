package eventbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tenantstream/tenantstream/events"
	ddbstore "github.com/tenantstream/tenantstream/events/dynamodb"
)

// What a Pipe with an event-bus target and no target parameters puts on the
// bus: source "Pipe <pipe name>", this detail type, and the stream record as
// the detail (see docs/aws.md).
const (
	DetailType = "Event from aws:dynamodb"
	// EventSource is the record's eventSource.
	EventSource = "aws:dynamodb"
	// InsertEvent is the eventName of a new item; events are never modified.
	InsertEvent = "INSERT"
)

// PipeSource is the source of the events a pipe named name puts on a bus.
func PipeSource(name string) string { return "Pipe " + name }

// ErrNotEvent is returned for a valid record that carries no event to project:
// a MODIFY or REMOVE, or an item of another kind (idempotency records, id
// claims, the tenant registry) that the pipe's filter should have dropped.
var ErrNotEvent = errors.New("eventbridge: record is not a stored event")

// AttributeValue is DynamoDB's JSON form of an attribute value, as stream
// records carry it (B and BS are base64 in JSON).
type AttributeValue struct {
	S    *string                   `json:"S,omitempty"`
	N    *string                   `json:"N,omitempty"`
	B    []byte                    `json:"B,omitempty"`
	BOOL *bool                     `json:"BOOL,omitempty"`
	NULL *bool                     `json:"NULL,omitempty"`
	M    map[string]AttributeValue `json:"M,omitempty"`
	L    []AttributeValue          `json:"L,omitempty"`
	SS   []string                  `json:"SS,omitempty"`
	NS   []string                  `json:"NS,omitempty"`
	BS   [][]byte                  `json:"BS,omitempty"`
}

// StreamRecord is the "dynamodb" member of a record.
type StreamRecord struct {
	// ApproximateCreationDateTime is in seconds since the epoch.
	ApproximateCreationDateTime float64                   `json:"ApproximateCreationDateTime,omitempty"`
	Keys                        map[string]AttributeValue `json:"Keys"`
	NewImage                    map[string]AttributeValue `json:"NewImage,omitempty"`
	OldImage                    map[string]AttributeValue `json:"OldImage,omitempty"`
	SequenceNumber              string                    `json:"SequenceNumber"`
	SizeBytes                   int64                     `json:"SizeBytes"`
	StreamViewType              string                    `json:"StreamViewType"`
}

// Record is one DynamoDB stream record as a pipe passes it on.
type Record struct {
	EventID        string       `json:"eventID"`
	EventName      string       `json:"eventName"`
	EventVersion   string       `json:"eventVersion"`
	EventSource    string       `json:"eventSource"`
	AWSRegion      string       `json:"awsRegion"`
	DynamoDB       StreamRecord `json:"dynamodb"`
	EventSourceARN string       `json:"eventSourceARN"`
}

// BusEvent is an EventBridge event as rules and their targets receive it.
type BusEvent struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Attribute names of an event item in the events table: the layout is the
// store's (events/dynamodb), taken from it so the two cannot drift apart.
const (
	attrPK         = ddbstore.AttrPK
	attrSK         = ddbstore.AttrSK
	attrKind       = ddbstore.AttrKind
	attrID         = ddbstore.AttrID
	attrTenant     = ddbstore.AttrTenant
	attrStream     = ddbstore.AttrStream
	attrStreamType = ddbstore.AttrStreamType
	attrType       = ddbstore.AttrType
	attrSchema     = ddbstore.AttrSchema
	attrOccurred   = ddbstore.AttrOccurred
	attrRecorded   = ddbstore.AttrRecorded
	attrCorr       = ddbstore.AttrCorr
	attrCause      = ddbstore.AttrCause
	attrActor      = ddbstore.AttrActor
	attrData       = ddbstore.AttrData
	kindEvent      = ddbstore.KindEvent
)

// Decode decodes an EventBridge event put by the pipe into the stored event it
// carries. Errors: ErrNotEvent for records to skip, or a description of what
// is malformed.
func Decode(raw []byte) (events.Event, error) {
	var be BusEvent
	if err := json.Unmarshal(raw, &be); err != nil {
		return events.Event{}, fmt.Errorf("decode bus event: %w", err)
	}
	if be.DetailType != DetailType {
		return events.Event{}, fmt.Errorf("decode bus event %s: detail-type %q, want %q", be.ID, be.DetailType, DetailType)
	}
	var r Record
	if err := json.Unmarshal(be.Detail, &r); err != nil {
		return events.Event{}, fmt.Errorf("decode bus event %s: detail: %w", be.ID, err)
	}
	ev, err := DecodeRecord(r)
	if err != nil {
		return events.Event{}, fmt.Errorf("decode bus event %s: %w", be.ID, err)
	}
	return ev, nil
}

// DecodeRecord decodes a stream record's new image into the stored event.
// Errors: ErrNotEvent for records to skip, or a description of what is malformed.
func DecodeRecord(r Record) (events.Event, error) {
	if r.EventSource != EventSource {
		return events.Event{}, fmt.Errorf("record %s: event source %q, want %q", r.EventID, r.EventSource, EventSource)
	}
	if r.EventName != InsertEvent {
		return events.Event{}, fmt.Errorf("record %s is a %s: %w", r.EventID, r.EventName, ErrNotEvent)
	}
	img := r.DynamoDB.NewImage
	if img == nil {
		return events.Event{}, fmt.Errorf("record %s has no NewImage (the stream view type must include it)", r.EventID)
	}
	if kind := img[attrKind].str(); kind != kindEvent {
		return events.Event{}, fmt.Errorf("record %s holds a %q item: %w", r.EventID, kind, ErrNotEvent)
	}
	ev, err := decodeImage(img)
	if err != nil {
		return events.Event{}, fmt.Errorf("record %s: %w", r.EventID, err)
	}
	return ev, nil
}

func (a AttributeValue) str() string {
	if a.S == nil {
		return ""
	}
	return *a.S
}

func num(img map[string]AttributeValue, name string) (int64, error) {
	a, ok := img[name]
	if !ok || a.N == nil {
		return 0, fmt.Errorf("attribute %s is not a number", name)
	}
	n, err := strconv.ParseInt(*a.N, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}

// decodeImage checks the item as strictly as the store writes it: the key must
// agree with the tenant, stream and version attributes, because the projector
// trusts the tenant it finds here to scope read-model keys.
func decodeImage(img map[string]AttributeValue) (events.Event, error) {
	var e events.Event
	var err error
	if e.Version, err = num(img, attrSK); err != nil {
		return e, err
	}
	if e.Version < 1 {
		return e, fmt.Errorf("version %d", e.Version)
	}
	e.TenantID, e.StreamID = events.TenantID(img[attrTenant].str()), events.StreamID(img[attrStream].str())
	if err := e.TenantID.Validate(); err != nil {
		return e, err
	}
	if err := e.StreamID.Validate(); err != nil {
		return e, err
	}
	if pk := img[attrPK].str(); pk != "T#"+string(e.TenantID)+"#S#"+string(e.StreamID) {
		return e, fmt.Errorf("key %q does not match tenant %s and stream %s", pk, e.TenantID, e.StreamID)
	}
	if e.ID = img[attrID].str(); e.ID == "" {
		return e, fmt.Errorf("no %s", attrID)
	}
	if e.Type = img[attrType].str(); e.Type == "" {
		return e, fmt.Errorf("event %s has no %s", e.ID, attrType)
	}
	sv, err := num(img, attrSchema)
	if err != nil {
		return e, err
	}
	if sv < 1 || sv > 1<<20 {
		return e, fmt.Errorf("event %s: schema version %d", e.ID, sv)
	}
	e.SchemaVersion = int(sv)
	occ, err := num(img, attrOccurred)
	if err != nil {
		return e, err
	}
	rec, err := num(img, attrRecorded)
	if err != nil {
		return e, err
	}
	e.OccurredAt, e.RecordedAt = time.UnixMicro(occ).UTC(), time.UnixMicro(rec).UTC()
	e.StreamType = img[attrStreamType].str()
	e.CorrelationID = img[attrCorr].str()
	e.CausationID = img[attrCause].str()
	e.Actor = img[attrActor].str()
	data := img[attrData].str()
	if d := strings.TrimSpace(data); !strings.HasPrefix(d, "{") || !json.Valid([]byte(d)) {
		return e, fmt.Errorf("event %s: data is not a JSON object", e.ID)
	}
	e.Data = json.RawMessage(data)
	return e, nil
}
