package metering

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

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

// TypeReported is the stable type name of a batch of reported usage records.
// Never rename: it is stored.
const TypeReported = "usage.reported"

// Reported carries many usage records in one event, so ingestion pays per event,
// not per record. Each record's id is claimed with the append (events.ClaimKeys),
// so a record is stored once however often it is reported.
type Reported struct {
	Records []Recorded `json:"records"`
}

// TypeReportAnswered is the stable type name of the answer to a usage report
// sent with an Idempotency-Key. Never rename: it is stored.
const TypeReportAnswered = "usage.report_answered"

// TypeReportClaimed is the stable type name of the claim a usage report with an
// Idempotency-Key makes on its key before it stores any record. Never rename.
const TypeReportClaimed = "usage.report_claimed"

// ReportClaimed binds a usage report's key to the report (with its
// fingerprint) before the records are stored, so that a report refused for the
// key stores nothing; the answer follows under an internal key once the
// records are stored (docs/ARCHITECTURE.md, decision 13).
type ReportClaimed struct {
	At time.Time `json:"at"`
}

// AnswersStreamID is the tenant stream where usage answers were kept before
// claims existed, all in one stream. Its name does not start with "usage-", so
// nothing takes it for a billing period's usage.
const AnswersStreamID = "answers-usage"

// AnswerStreamID is the stream of one keyed report's claim and answer: one
// stream per key, so concurrent reports with different keys never contend for
// one stream's head (a hot key on DynamoDB), while attempts of one report do.
// The key's later lives (after IdempotencyKeyTTL) append to the same stream.
func AnswerStreamID(storeKey string) string {
	sum := sha256.Sum256([]byte(storeKey))
	return AnswersStreamID + "-" + hex.EncodeToString(sum[:16])
}

// AnswersStreamType is the stream type of AnswersStreamID.
const AnswersStreamType = "usage-answers"

// ReportAnswered records what a usage report with an idempotency key answered,
// under that key, so a retry of the report gets the same answer (the records
// themselves are recorded once by their ids either way).
type ReportAnswered struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}
