package metering

import "time"

// TypeRecorded is the stable type name of a usage record. Never rename: it is stored.
const TypeRecorded = "usage.recorded"

// StreamType of usage streams; usage of a tenant goes to stream "usage-<YYYY-MM>"
// of the month it occurred in.
const StreamType = "usage"

// Built-in meters every catalogue has.
const (
	MeterAPIRequests  = "api_requests"
	MeterItemWrites   = "item_writes"
	MeterStorageBytes = "storage_bytes"
)

// Recorded is one usage record. Quantity is a non-negative decimal string; usage is
// assigned to billing periods by Timestamp, never by arrival.
type Recorded struct {
	ID         string            `json:"id"`
	Meter      string            `json:"meter"`
	Quantity   string            `json:"quantity"`
	Timestamp  time.Time         `json:"timestamp"`
	Properties map[string]string `json:"properties,omitempty"`
	Source     string            `json:"source,omitempty"` // "api" for reported usage, "platform" for built-in meters
}
