package dynamodb

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/events"
)

// Attribute and index names of the table. They are part of the stored format (and of
// the stream records the feed decodes), pinned by the golden test.
const (
	attrPK         = "PK"
	attrSK         = "SK"
	attrGSI1PK     = "GSI1PK"
	attrGSI1SK     = "GSI1SK"
	attrKind       = "kind"
	attrID         = "id"
	attrTenant     = "tenant_id"
	attrStream     = "stream_id"
	attrStreamType = "stream_type"
	attrType       = "type"
	attrSchema     = "schema_version"
	attrOccurred   = "occurred_at"
	attrRecorded   = "recorded_at"
	attrCorr       = "correlation_id"
	attrCause      = "causation_id"
	attrActor      = "actor"
	attrData       = "data"
	attrFirst      = "first_version"
	attrCount      = "count"
	attrVersion    = "version"
	// attrFingerprint and attrExpires are an idempotency record's request
	// fingerprint and the Unix second it expires at (the table's time-to-live
	// attribute, set in infra/); its recorded_at is when the key was first used.
	attrFingerprint = "fingerprint"
	attrExpires     = "expires_at"

	// TenantIndex is the global secondary index holding each tenant's history in
	// replay order, and the tenant registry under the partition registryPK.
	TenantIndex = "tenant-history"

	// Values of attrKind, so a stream consumer (the EventBridge Pipe filter) can
	// keep only events.
	kindEvent  = "event"
	kindIdem   = "idempotency"
	kindID     = "event-id"
	kindClaim  = "claim"
	kindTenant = "tenant"

	registryPK = "TENANTS"

	// maxItemBytes is DynamoDB's item size limit (attribute names included).
	maxItemBytes = 400 * 1024
	// maxTxItems and maxTxBytes bound one TransactWriteItems.
	maxTxItems = 100
	maxTxBytes = 4 * 1024 * 1024
)

// The stored layout of an event item, for decoders of the table's stream records
// (events/eventbridge) that must read exactly what this package writes.
const (
	AttrPK         = attrPK
	AttrSK         = attrSK
	AttrKind       = attrKind
	AttrID         = attrID
	AttrTenant     = attrTenant
	AttrStream     = attrStream
	AttrStreamType = attrStreamType
	AttrType       = attrType
	AttrSchema     = attrSchema
	AttrOccurred   = attrOccurred
	AttrRecorded   = attrRecorded
	AttrCorr       = attrCorr
	AttrCause      = attrCause
	AttrActor      = attrActor
	AttrData       = attrData
	KindEvent      = kindEvent
)

// Every item of a tenant starts with T#<tenant>#, the prefix the tenant role's
// dynamodb:LeadingKeys condition allows (docs/ARCHITECTURE.md, decision 9d), and so does the
// tenant-history index's partition key (T#<tenant>#H), which is the leading key
// of a history query. Ids cannot contain '#'.
func tenantPrefix(t events.TenantID) string { return "T#" + string(t) + "#" }

func streamPK(t events.TenantID, s events.StreamID) string {
	return tenantPrefix(t) + "S#" + string(s)
}
func idemPK(t events.TenantID, key string) string  { return tenantPrefix(t) + "I#" + key }
func idPK(t events.TenantID, id string) string     { return tenantPrefix(t) + "E#" + id }
func tenantPK(t events.TenantID) string            { return tenantPrefix(t) + "R" }
func claimPK(t events.TenantID, key string) string { return tenantPrefix(t) + "K#" + key }
func historyPK(t events.TenantID) string           { return tenantPrefix(t) + "H" }

// historySK orders a tenant's events by recorded_at, then stream, then version.
// '#' sorts below every character ids may hold, so (stream, version) compares as a tuple.
func historySK(recordedMicros int64, s events.StreamID, version int64) string {
	return fmt.Sprintf("%016d#%s#%010d", recordedMicros, s, version)
}

func str(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
func num(v int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk string, sk int64) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{attrPK: str(pk), attrSK: num(sk)}
}

// eventItem is the stored form of one event. Times are integers of microseconds
// since the epoch (storetest.TimePrecision); data is the compact JSON text.
func eventItem(e events.Event) map[string]ddbtypes.AttributeValue {
	ra := e.RecordedAt.UnixMicro()
	it := map[string]ddbtypes.AttributeValue{
		attrPK:       str(streamPK(e.TenantID, e.StreamID)),
		attrSK:       num(e.Version),
		attrGSI1PK:   str(historyPK(e.TenantID)),
		attrGSI1SK:   str(historySK(ra, e.StreamID, e.Version)),
		attrKind:     str(kindEvent),
		attrID:       str(e.ID),
		attrTenant:   str(string(e.TenantID)),
		attrStream:   str(string(e.StreamID)),
		attrType:     str(e.Type),
		attrSchema:   num(int64(e.SchemaVersion)),
		attrOccurred: num(e.OccurredAt.UnixMicro()),
		attrRecorded: num(ra),
		attrData:     str(string(e.Data)),
	}
	// Empty optional strings are left out rather than stored empty.
	for name, v := range map[string]string{attrStreamType: e.StreamType, attrCorr: e.CorrelationID, attrCause: e.CausationID, attrActor: e.Actor} {
		if v != "" {
			it[name] = str(v)
		}
	}
	return it
}

func getS(it map[string]ddbtypes.AttributeValue, name string) (string, bool) {
	v, ok := it[name].(*ddbtypes.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return v.Value, true
}

func getN(it map[string]ddbtypes.AttributeValue, name string) (int64, error) {
	v, ok := it[name].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s is not a number", name)
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}

// decodeEvent is the inverse of eventItem.
func decodeEvent(it map[string]ddbtypes.AttributeValue) (events.Event, error) {
	var e events.Event
	var err error
	if e.Version, err = getN(it, attrSK); err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	sv, err := getN(it, attrSchema)
	if err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	e.SchemaVersion = int(sv)
	occ, err := getN(it, attrOccurred)
	if err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	rec, err := getN(it, attrRecorded)
	if err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	e.OccurredAt = time.UnixMicro(occ).UTC()
	e.RecordedAt = time.UnixMicro(rec).UTC()
	var ok bool
	if e.ID, ok = getS(it, attrID); !ok {
		return e, fmt.Errorf("decode event: no %s", attrID)
	}
	tenant, _ := getS(it, attrTenant)
	stream, _ := getS(it, attrStream)
	e.TenantID, e.StreamID = events.TenantID(tenant), events.StreamID(stream)
	e.StreamType, _ = getS(it, attrStreamType)
	e.Type, _ = getS(it, attrType)
	e.CorrelationID, _ = getS(it, attrCorr)
	e.CausationID, _ = getS(it, attrCause)
	e.Actor, _ = getS(it, attrActor)
	data, ok := getS(it, attrData)
	if !ok {
		return e, fmt.Errorf("decode event %s: no %s", e.ID, attrData)
	}
	e.Data = json.RawMessage(data)
	return e, nil
}

// itemSize over-estimates DynamoDB's item size: attribute names plus values, with a
// number counted as its decimal text (DynamoDB needs at most that).
func itemSize(it map[string]ddbtypes.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name)
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			n += len(v.Value)
		case *ddbtypes.AttributeValueMemberN:
			n += len(v.Value)
		default:
			n += 64
		}
	}
	return n
}
