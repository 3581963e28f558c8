package dynamodb

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tenantstream/tenantstream/events"
)

// Attribute names of the table. Read-model and checkpoint partition keys start
// with T#<tenant># so the tenant-scoped role's dynamodb:LeadingKeys condition
// (docs/ARCHITECTURE.md, decision 9d) covers them, as it covers the event store's keys.
const (
	attrPK      = "PK"
	attrSK      = "SK"
	attrValue   = "v"
	attrProj    = "proj"
	attrGen     = "gen"
	attrTenant  = "tenant"
	attrColl    = "coll"
	attrStream  = "stream"
	attrVersion = "ver"
	attrDefault = "def"
	attrTenants = "tenants"
	attrRev     = "rev"
	attrNext    = "n"
	attrEventID = "event_id"
	attrType    = "type"
	attrReason  = "reason"
	attrAt      = "at"
)

// Sort-key prefixes and fixed sort keys.
const (
	skKeyPrefix    = "K#" // read-model keys may be empty; DynamoDB keys may not
	skGenState     = "GEN"
	skNextGen      = "NEXTGEN"
	skParkedPrefix = "PARKED#"
)

func genPrefix(tenant events.TenantID, projection string, gen int64) string {
	return "T#" + string(tenant) + "#P#" + projection + "#G#" + strconv.FormatInt(gen, 10)
}

// rmPK is the partition of one read-model collection.
func rmPK(projection string, gen int64, tenant events.TenantID, collection string) string {
	return genPrefix(tenant, projection, gen) + "#C#" + collection
}

// cpPK is the partition of a tenant's checkpoints in one generation; its sort key
// is the stream id.
func cpPK(projection string, gen int64, tenant events.TenantID) string {
	return genPrefix(tenant, projection, gen) + "#CP"
}

// projPK holds a projection's platform-wide items: generation state, the
// generation counter and parked events.
func projPK(projection string) string { return "P#" + projection }

func rmSK(key string) string { return skKeyPrefix + key }

// parkedSK orders parked events by time, then id, like the SQLite backend.
func parkedSK(at time.Time, eventID string) string {
	return fmt.Sprintf("%s%s#%s", skParkedPrefix, at.UTC().Format("2006-01-02T15:04:05.000000000Z"), eventID)
}

type itemKey struct{ pk, sk string }
