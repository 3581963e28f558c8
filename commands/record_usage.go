package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
)

// Usage limits: at most 1,000 records per request, ids kept at least UsageMaxAge.
const (
	MaxUsagePerRequest = 1000
	UsageFutureSkew    = 5 * time.Minute
	UsageMaxAge        = UsageMaxAgeDays * 24 * time.Hour // the default of Service.UsageWindow
	maxUsageIDLen      = 128
)

// MeterCatalog says which meters clients may report (custom meters of the catalogue).
type MeterCatalog interface {
	CustomMeter(id string) bool
}

// UsageRecord is one reported usage event.
type UsageRecord struct {
	ID         string
	Meter      string
	Quantity   string
	Timestamp  time.Time
	Properties map[string]string
}

// UsageResult says what happened to a batch.
type UsageResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

var quantityRE = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,12})?$`)

// usageNamespace derives event ids from (tenant, usage id): a retried record maps
// to the same event id, which the store refuses to write twice.
var usageNamespace = uuid.MustParse("6f1c3f0e-6a0e-4f39-9f3a-0e2b1f4c7a11")

// UsageEventID is the event id of a tenant's usage record.
func UsageEventID(tenant events.TenantID, usageID string) string {
	return uuid.NewSHA1(usageNamespace, []byte(string(tenant)+"\x00"+usageID)).String()
}

// UsageMaxAgeDays is UsageMaxAge in days, as the --usage-window-days flags take it.
const UsageMaxAgeDays = 35

// RecordUsage validates a batch completely (all or nothing) and appends it;
// records whose id the tenant already reported count as duplicates.
func (s *Service) RecordUsage(ctx context.Context, m Meta, tenantID string, meters MeterCatalog, recs []UsageRecord) (UsageResult, error) {
	tid, err := s.authorizeTenant(ctx, m, tenantID)
	if err != nil {
		return UsageResult{}, err
	}
	if err := s.requireWritable(ctx, m, tid); err != nil {
		return UsageResult{}, err
	}
	if len(recs) == 0 {
		return UsageResult{}, domain.FieldError("events", "must hold at least one usage event")
	}
	if len(recs) > MaxUsagePerRequest {
		return UsageResult{}, domain.FieldError("events", "holds %d usage events, at most %d per request", len(recs), MaxUsagePerRequest)
	}
	now := s.Clock.Now()
	seen := make(map[string]int, len(recs))
	valid := make([]metering.Recorded, 0, len(recs))
	for i, r := range recs {
		field := func(name string) string { return fmt.Sprintf("events[%d].%s", i, name) }
		if r.ID == "" || len(r.ID) > maxUsageIDLen {
			return UsageResult{}, domain.FieldError(field("id"), "must be 1-%d characters", maxUsageIDLen)
		}
		if r.Meter == "" || !meters.CustomMeter(r.Meter) {
			return UsageResult{}, domain.FieldError(field("meter"), "unknown meter %q", r.Meter)
		}
		if !quantityRE.MatchString(r.Quantity) {
			return UsageResult{}, domain.FieldError(field("quantity"), "must be a non-negative decimal string such as \"12.5\"")
		}
		if r.Timestamp.IsZero() {
			return UsageResult{}, domain.FieldError(field("timestamp"), "is required (RFC 3339)")
		}
		if r.Timestamp.After(now.Add(UsageFutureSkew)) {
			return UsageResult{}, domain.FieldError(field("timestamp"), "is in the future")
		}
		if r.Timestamp.Before(now.Add(-s.usageWindow())) {
			return UsageResult{}, domain.FieldError(field("timestamp"), "is older than %d days", int(s.usageWindow().Hours()/24))
		}
		if len(r.Properties) > maxUsageProperties {
			return UsageResult{}, domain.FieldError(field("properties"), "at most %d properties", maxUsageProperties)
		}
		for k, v := range r.Properties {
			if k == "" || len(k) > maxPropertyKeyLen || len(v) > maxPropertyValueLen {
				return UsageResult{}, domain.FieldError(field("properties"), "keys are 1-%d bytes and values at most %d bytes", maxPropertyKeyLen, maxPropertyValueLen)
			}
		}
		// A retried id is a duplicate to count; the same id twice in one request is
		// an ambiguous request to reject (which of the two should count?).
		if j, dup := seen[r.ID]; dup {
			return UsageResult{}, domain.FieldError(field("id"), "repeats the id of events[%d]", j)
		}
		seen[r.ID] = i
		valid = append(valid, metering.Recorded{ID: r.ID, Meter: r.Meter, Quantity: r.Quantity, Timestamp: r.Timestamp.UTC(), Properties: r.Properties, Source: "api"})
	}
	// The limits of the reported meters (entitlements.go): a report that a
	// blocking limit does not admit is refused whole, before anything is written.
	release, err := s.admitUsage(ctx, tid, valid)
	if err != nil {
		return UsageResult{}, err
	}
	var res UsageResult
	if m.IdempotencyKey == "" {
		res, err = s.recordUsage(ctx, m, tid, valid)
	} else {
		res, err = s.recordKeyedUsage(ctx, m, tid, valid)
	}
	release()
	if err == nil {
		// The usage is in the store: the alerts its periods reach (alerts.go).
		// A retry checks again, so an alert a crash left unwritten is written.
		s.checkAlerts(ctx, tid, recordedPeriods(valid)...)
	}
	return res, err
}

// recordKeyedUsage runs a usage report sent with an Idempotency-Key: it claims
// the key (binding it to this report's fingerprint) before it stores a record,
// stores the records, and records the answer under an internal key, so that a
// retry gets the first answer, and a report refused for the key (422) stores
// nothing (docs/ARCHITECTURE.md, decision 13). A crash before the answer leaves
// the claim; once it is older than ClaimLease a retry runs the report again, and
// record ids keep each record exactly once.
func (s *Service) recordKeyedUsage(ctx context.Context, m Meta, tid events.TenantID, valid []metering.Recorded) (UsageResult, error) {
	stream := events.StreamID(metering.AnswerStreamID(m.storeKey()))
	res, err := s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: stream, StreamType: metering.AnswersStreamType, Expected: events.AnyVersion,
		IdempotencyKey: m.storeKey(), Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
		Events: []events.NewEvent{newEvent(&metering.ReportClaimed{At: s.Clock.Now()})},
	})
	if errors.Is(err, events.ErrIdempotencyKeyReuse) {
		// A report answered before claims existed kept its answer in one stream.
		if legacy, dup, lerr := s.firstResult(ctx, m, tid, metering.AnswersStreamID); lerr == nil && dup {
			return usageAnswer(legacy)
		}
	}
	if err != nil {
		return UsageResult{}, storeError("claim usage report key", err)
	}
	// The answer's key names the claim too: a claim made after the key expired
	// must not find the answer of the key's earlier life.
	answerKey := m.internalKey("answer." + res.Events[0].ID)
	if res.Duplicate {
		first := res.Events[0]
		claim, err := events.DecodeAs[metering.ReportClaimed](schema.Registry, first)
		if err != nil {
			return UsageResult{}, storeError("decode usage claim", err)
		}
		var answer events.AppendResult
		takeover, err := s.awaitClaim(ctx, claim.At, func() (bool, error) {
			rec, found, err := s.Store.Idempotency(ctx, tid, answerKey)
			if err != nil {
				return false, storeError("read usage answer", err)
			}
			answer = rec.Result
			return found, nil
		})
		if err != nil {
			return UsageResult{}, err
		}
		if !takeover {
			return usageAnswer(answer)
		}
	}
	out, err := s.recordUsage(ctx, m, tid, valid)
	if err != nil {
		return out, err
	}
	res, err = s.Store.Append(ctx, events.AppendRequest{
		Tenant: tid, Stream: stream, StreamType: metering.AnswersStreamType, Expected: events.AnyVersion,
		IdempotencyKey: answerKey, Fingerprint: m.Fingerprint, CorrelationID: m.CorrelationID, Actor: m.Principal.UserID,
		Events: []events.NewEvent{newEvent(&metering.ReportAnswered{Accepted: out.Accepted, Duplicates: out.Duplicates})},
	})
	if err != nil {
		return UsageResult{}, storeError("record usage answer", err)
	}
	return usageAnswer(res) // the first answer, if a takeover raced this one
}

func (s *Service) recordUsage(ctx context.Context, m Meta, tid events.TenantID, valid []metering.Recorded) (UsageResult, error) {
	if kc, ok := s.Store.(events.KeyClaimer); ok {
		return s.recordReported(ctx, m, tid, kc, valid)
	}
	return s.recordOneByOne(ctx, m, tid, valid)
}

// usageAnswer is the answer a usage report's key recorded.
func usageAnswer(res events.AppendResult) (UsageResult, error) {
	if res.Events[0].Type != metering.TypeReportAnswered {
		return UsageResult{}, errKeyReused
	}
	a, err := events.DecodeAs[metering.ReportAnswered](schema.Registry, res.Events[0])
	if err != nil {
		return UsageResult{}, storeError("decode usage answer", err)
	}
	return UsageResult{Accepted: a.Accepted, Duplicates: a.Duplicates}, nil
}

// Usage record limits that keep a reported batch well inside an event's 64 KiB.
const (
	maxUsageProperties  = 16
	maxPropertyKeyLen   = 64
	maxPropertyValueLen = 256
	// reportedEventBytes is the target size of one usage.reported event.
	reportedEventBytes = 48 << 10
)

// UsageClaimMargin is how much longer than the usage window a usage id's claim
// is kept: a record dated at the window's edge and retried later still finds
// its claim (a record older than the window is refused before its claim is
// looked at), with room for clock skew between writers.
const UsageClaimMargin = 24 * time.Hour

// usageKey is the claim key of a usage record id.
func usageKey(id string) string { return "usage:" + id }

// recordReported stores the records as usage.reported events, a few per request,
// claiming every record id in the same append, so ingestion pays per event rather
// than per record while each id is still accepted exactly once. Ids the tenant
// already reported are dropped first; a concurrent report of the same id makes
// the append fail with ErrKeyClaimed, and the loop drops it and tries again.
func (s *Service) recordReported(ctx context.Context, m Meta, tid events.TenantID, kc events.KeyClaimer, recs []metering.Recorded) (UsageResult, error) {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = usageKey(r.ID)
	}
	accepted := 0
	pending := recs
	for attempt := 0; ; attempt++ {
		// The first attempt is optimistic: most batches are new, and the append's
		// claims reject any id already taken. After a rejection, drop the ids the
		// tenant already holds and try the rest.
		if attempt > 0 {
			known, err := kc.ClaimedKeys(ctx, tid, keys)
			if err != nil {
				return UsageResult{}, storeError("check usage ids", err)
			}
			pending = pending[:0:0]
			for _, r := range recs {
				if !known[usageKey(r.ID)] {
					pending = append(pending, r)
				}
			}
		}
		byPeriod := map[string][]metering.Recorded{}
		var periods []string
		for _, r := range pending {
			p := r.Timestamp.Format("2006-01")
			if _, ok := byPeriod[p]; !ok {
				periods = append(periods, p)
			}
			byPeriod[p] = append(byPeriod[p], r)
		}
		raced := false
		for _, p := range periods {
			n, err := s.appendReported(ctx, m, tid, p, byPeriod[p], kc)
			switch {
			case errors.Is(err, events.ErrKeyClaimed) && attempt < 5:
				raced = true
			case err != nil:
				return UsageResult{Accepted: accepted}, storeError("record usage", err)
			}
			accepted += n
		}
		if !raced {
			return UsageResult{Accepted: accepted, Duplicates: len(recs) - accepted}, nil
		}
	}
}

// appendReported appends one period's records as usage.reported events of about
// reportedEventBytes each, in as few appends as the store's limits allow.
func (s *Service) appendReported(ctx context.Context, m Meta, tid events.TenantID, period string, recs []metering.Recorded, kc events.KeyClaimer) (int, error) {
	maxKeys := 1000
	if l, ok := kc.(interface{ MaxClaimKeys() int }); ok {
		maxKeys = l.MaxClaimKeys()
	}
	written := 0
	for len(recs) > 0 {
		var evs []events.NewEvent
		var keys []string
		taken := 0
		for taken < len(recs) && len(keys) < maxKeys && len(evs) < 100 {
			var batch []metering.Recorded
			size, latest := 0, time.Time{}
			for taken < len(recs) && len(keys) < maxKeys {
				r := recs[taken]
				rs := recordSize(r)
				if len(batch) > 0 && size+rs > reportedEventBytes {
					break
				}
				batch = append(batch, r)
				keys = append(keys, usageKey(r.ID))
				size += rs
				if r.Timestamp.After(latest) {
					latest = r.Timestamp
				}
				taken++
			}
			ne := newEvent(&metering.Reported{Records: batch})
			ne.OccurredAt = latest
			evs = append(evs, ne)
		}
		_, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(UsageStreamID(period)), StreamType: metering.StreamType,
			Expected: events.AnyVersion, ClaimKeys: keys, ClaimTTL: s.usageWindow() + UsageClaimMargin, CorrelationID: m.CorrelationID,
			Actor: m.Principal.UserID, Events: evs,
		})
		if err != nil {
			return written, err
		}
		written += taken
		recs = recs[taken:]
	}
	return written, nil
}

// recordSize bounds a record's JSON size from its fields, without encoding it,
// as the store seals it (decision 19): each property is stored as a keyed hash
// in clear and, base64-encoded, in the ciphertext, and every record takes a
// slot in the ciphertext's array.
func recordSize(r metering.Recorded) int {
	n := 110 + len(r.ID) + len(r.Meter) + len(r.Quantity) + 8
	for k, v := range r.Properties {
		plain := len(k) + 2*len(v) + 8 // values may need escaping
		n += plain + len(k) + 32 + plain*4/3
	}
	return n
}

// recordOneByOne stores each record as its own usage.recorded event whose id is
// derived from the record id, for stores without KeyClaimer.
func (s *Service) recordOneByOne(ctx context.Context, m Meta, tid events.TenantID, recs []metering.Recorded) (UsageResult, error) {
	byPeriod := map[string][]events.NewEvent{}
	var order []string
	for i := range recs {
		r := recs[i]
		ne := newEvent(&r)
		ne.ID, ne.OccurredAt = UsageEventID(tid, r.ID), r.Timestamp
		period := r.Timestamp.Format("2006-01")
		if _, ok := byPeriod[period]; !ok {
			order = append(order, period)
		}
		byPeriod[period] = append(byPeriod[period], ne)
	}
	// An append holds at most 100 events (DynamoDB's transaction limit). The chunks
	// need no atomicity between them (a retry skips the ids already stored), so
	// they are appended concurrently: the store commits them together instead of
	// paying one commit (fsync) per chunk in turn.
	type chunk struct {
		period string
		evs    []events.NewEvent
		res    events.AppendResult
		err    error
	}
	var chunks []*chunk
	for _, period := range order {
		evs := byPeriod[period]
		for start := 0; start < len(evs); start += 100 {
			chunks = append(chunks, &chunk{period: period, evs: evs[start:min(start+100, len(evs))]})
		}
	}
	appendChunk := func(c *chunk) {
		c.res, c.err = s.Store.Append(ctx, events.AppendRequest{
			Tenant: tid, Stream: events.StreamID(UsageStreamID(c.period)), StreamType: metering.StreamType,
			Expected: events.AnyVersion, SkipDuplicateIDs: true, CorrelationID: m.CorrelationID,
			Actor: m.Principal.UserID, Events: c.evs,
		})
	}
	if len(chunks) == 1 {
		appendChunk(chunks[0])
	} else {
		var wg sync.WaitGroup
		for _, c := range chunks {
			wg.Go(func() { appendChunk(c) })
		}
		wg.Wait()
	}
	out := UsageResult{}
	var errs []error
	for _, c := range chunks {
		if c.err != nil {
			errs = append(errs, c.err)
			continue
		}
		out.Accepted += len(c.res.Events)
		out.Duplicates += c.res.Skipped
	}
	if len(errs) > 0 {
		return out, storeError("record usage", errors.Join(errs...))
	}
	return out, nil
}

// usageWindow is how old a usage record may be when it is reported.
func (s *Service) usageWindow() time.Duration {
	if s.UsageWindow > 0 {
		return s.UsageWindow
	}
	return UsageMaxAge
}

// UsageStreamID is the tenant's usage stream for a month (YYYY-MM).
func UsageStreamID(period string) string { return "usage-" + period }
