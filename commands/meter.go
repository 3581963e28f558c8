package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// Meter measures the built-in meters. Requests and item writes are counted in
// memory and flushed as usage.recorded events every few seconds (and on graceful
// shutdown), so the hot path appends nothing; storage is sampled from the items
// read model at each flush and recorded when it changes. A hard kill loses at
// most one flush interval of request and write counts; storage is re-sampled.
//
// The api function on AWS counts each invocation on a Meter of its own, carried
// by the invocation's context (WithMeter), with Invocation set, and flushes it
// before answering (docs/aws.md, "Built-in meters").
type Meter struct {
	Service *Service
	// Invocation, when set, names the one invocation this Meter counts: the ids
	// of the flushed records derive from it (and the meter and period) instead
	// of being random, so flushing a retried invocation's counts again writes
	// nothing twice (the store skips the duplicate event ids).
	Invocation string

	// counts maps meterKey to *meterCount. Counting is on every request's path,
	// so it takes no lock: a sync.Map lookup and two atomic updates.
	counts  sync.Map
	touched sync.Map // events.TenantID -> struct{}: tenants with item writes since the last flush

	mu     sync.Mutex // serializes Flush
	stored map[events.TenantID]int64
	// flushSeq is odd while a Flush moves counts into the store, so a reader
	// of counts plus the fold (the entitlement check) can tell it saw a count
	// in neither place, or in both, and read again.
	flushSeq atomic.Int64
}

// pending is the count of meter not yet flushed for tenant in at's period.
func (m *Meter) pending(tenant events.TenantID, meter string, at time.Time) int64 {
	if m == nil {
		return 0
	}
	v, ok := m.counts.Load(meterKey{tenant, meter, periodIndex(at)})
	if !ok {
		return 0
	}
	return v.(*meterCount).n.Load()
}

type meterKey struct {
	tenant events.TenantID
	meter  string
	period int // year*12 + month-1, cheaper than formatting a string per request
}

type meterCount struct {
	n    atomic.Int64
	last atomic.Int64 // UnixNano of the latest counted instant
}

func periodIndex(t time.Time) int {
	y, mo, _ := t.UTC().Date()
	return y*12 + int(mo) - 1
}

func (m *Meter) add(tenant events.TenantID, meter string, at time.Time) {
	k := meterKey{tenant, meter, periodIndex(at)}
	v, ok := m.counts.Load(k)
	if !ok {
		v, _ = m.counts.LoadOrStore(k, &meterCount{})
	}
	c := v.(*meterCount)
	c.n.Add(1)
	ns := at.UnixNano()
	for {
		cur := c.last.Load()
		if ns <= cur || c.last.CompareAndSwap(cur, ns) {
			break
		}
	}
	if meter == metering.MeterItemWrites {
		if _, seen := m.touched.Load(tenant); !seen {
			m.touched.Store(tenant, struct{}{})
		}
	}
}

type meterCtxKey struct{}

// WithMeter returns ctx whose built-in meter counts (requests and item writes)
// go to m rather than to the Service's Meter: the api function's per-invocation
// Meter (docs/aws.md, "Built-in meters").
func WithMeter(ctx context.Context, m *Meter) context.Context {
	return context.WithValue(ctx, meterCtxKey{}, m)
}

// MeterFrom is the Meter WithMeter put on ctx, or nil.
func MeterFrom(ctx context.Context) *Meter {
	m, _ := ctx.Value(meterCtxKey{}).(*Meter)
	return m
}

// meter is the Meter counting the work done with ctx: its own (WithMeter), else
// the Service's; nil meters nothing.
func (s *Service) meter(ctx context.Context) *Meter {
	if m := MeterFrom(ctx); m != nil {
		return m
	}
	return s.Meter
}

// ContextMeter counts each request on the Meter its context carries
// (WithMeter), and nothing without one: the api function's httpapi.API.Usage.
type ContextMeter struct{}

// CountRequest implements httpapi.UsageCounter.
func (ContextMeter) CountRequest(ctx context.Context, tenant string, at time.Time) {
	MeterFrom(ctx).CountRequest(ctx, tenant, at)
}

// CountRequest counts one authenticated API request of a tenant.
func (m *Meter) CountRequest(_ context.Context, tenant string, at time.Time) {
	if m == nil || events.TenantID(tenant).Validate() != nil {
		return
	}
	m.add(events.TenantID(tenant), metering.MeterAPIRequests, at)
}

// CountItemWrite counts one put or delete of an item.
func (m *Meter) CountItemWrite(tenant events.TenantID, at time.Time) {
	if m == nil {
		return
	}
	m.add(tenant, metering.MeterItemWrites, at)
}

// Flush appends the counted usage and any changed storage readings, as one
// usage.reported event per tenant and period: every event written is paid for
// again by the feed and each projection that reads it, so a request's three
// built-in meters cost one event, not three (docs/cost.md). Counts are taken
// out first (an atomic swap, so counting goes on meanwhile) and put back if
// their append fails, so nothing is lost to a transient error.
func (m *Meter) Flush(ctx context.Context) error {
	recorded, err := m.flush(ctx)
	// Once the counts are in the store (and outside the flush, whose seqlock
	// the checks read around), the alerts their periods reach (alerts.go).
	for _, r := range recorded {
		m.Service.checkAlerts(events.WithTenantScope(ctx, r.tenant), r.tenant, r.period)
	}
	return err
}

// flushed is a tenant's period whose usage a flush appended.
type flushed struct {
	tenant events.TenantID
	period billing.Period
}

func (m *Meter) flush(ctx context.Context) ([]flushed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushSeq.Add(1)
	defer m.flushSeq.Add(1)
	var recorded []flushed
	if m.stored == nil {
		m.stored = map[events.TenantID]int64{}
	}
	type batchKey struct {
		tenant events.TenantID
		period string
	}
	type batch struct {
		recs []metering.Recorded
		undo []func() // put the counts back
	}
	batches := map[batchKey]*batch{}
	var order []batchKey
	add := func(tenant events.TenantID, rec metering.Recorded, undo func()) {
		k := batchKey{tenant, rec.Timestamp.Format("2006-01")}
		b, ok := batches[k]
		if !ok {
			b = &batch{}
			batches[k] = b
			order = append(order, k)
		}
		b.recs = append(b.recs, rec)
		b.undo = append(b.undo, undo)
	}
	m.counts.Range(func(key, value any) bool {
		k, c := key.(meterKey), value.(*meterCount)
		n := c.n.Swap(0)
		if n == 0 {
			return true
		}
		last := time.Unix(0, c.last.Load()).UTC()
		add(k.tenant, metering.Recorded{ID: m.recordID(k.meter, last), Meter: k.meter, Quantity: strconv.FormatInt(n, 10), Timestamp: last, Source: "platform"},
			func() { c.n.Add(n) })
		return true
	})
	var errs []error
	var touched []events.TenantID
	m.touched.Range(func(key, _ any) bool {
		touched = append(touched, key.(events.TenantID))
		m.touched.Delete(key)
		return true
	})
	readings := map[batchKey]int64{}
	for _, tenant := range touched {
		bytes, err := m.Service.StoredBytes(events.WithTenantScope(ctx, tenant), tenant)
		if err != nil {
			errs = append(errs, err)
			m.touched.Store(tenant, struct{}{})
			continue
		}
		if prev, seen := m.stored[tenant]; seen && prev == bytes {
			continue
		}
		now := m.Service.Clock.Now()
		tenant := tenant
		add(tenant, metering.Recorded{ID: m.recordID(metering.MeterStorageBytes, now), Meter: metering.MeterStorageBytes, Quantity: strconv.FormatInt(bytes, 10), Timestamp: now, Source: "platform"},
			func() { m.touched.Store(tenant, struct{}{}) })
		readings[batchKey{tenant, now.Format("2006-01")}] = bytes
	}
	for _, k := range order {
		b := batches[k]
		if err := m.record(ctx, k.tenant, k.period, b.recs); err != nil {
			errs = append(errs, err)
			for _, undo := range b.undo {
				undo()
			}
			continue
		}
		if bytes, ok := readings[k]; ok {
			m.stored[k.tenant] = bytes
		}
		if p, err := billing.ParsePeriod(k.period); err == nil {
			recorded = append(recorded, flushed{k.tenant, p})
		}
	}
	return recorded, errors.Join(errs...)
}

// recordID is a flushed record's usage id: random, or with Invocation set the
// same for every flush of that invocation's counts of meter in at's period.
func (m *Meter) recordID(meter string, at time.Time) string {
	if m.Invocation == "" {
		return "platform-" + uuid.Must(uuid.NewV7()).String()
	}
	return "platform-" + m.Invocation + "-" + meter + "-" + at.UTC().Format("2006-01")
}

// record appends one period's flushed records as one usage.reported event.
// With Invocation set its event id is derived from the invocation, so a
// retried invocation's flush writes nothing twice (the store skips a known
// event id); otherwise it is random, as the counts are new.
func (m *Meter) record(ctx context.Context, tenant events.TenantID, period string, recs []metering.Recorded) error {
	// A tenant's usage is written in its scope, so on AWS with its credentials
	// (docs/ARCHITECTURE.md, decision 9d).
	ctx = events.WithTenantScope(ctx, tenant)
	ne := newEvent(&metering.Reported{Records: recs})
	latest := recs[0].Timestamp
	for _, r := range recs[1:] {
		if r.Timestamp.After(latest) {
			latest = r.Timestamp
		}
	}
	ne.OccurredAt = latest
	if m.Invocation != "" {
		ne.ID = UsageEventID(tenant, "platform-"+m.Invocation+"-"+period)
	} else {
		ne.ID = UsageEventID(tenant, recs[0].ID)
	}
	_, err := m.Service.Store.Append(ctx, events.AppendRequest{
		Tenant: tenant, Stream: events.StreamID(UsageStreamID(period)), StreamType: metering.StreamType,
		Expected: events.AnyVersion, SkipDuplicateIDs: true, Actor: "platform", Events: []events.NewEvent{ne},
	})
	if err != nil {
		return fmt.Errorf("flush usage of %s for %s: %w", tenant, period, err)
	}
	return nil
}

// Run flushes every interval until ctx ends, then flushes once more.
func (m *Meter) Run(ctx context.Context, interval time.Duration) {
	clock.Every(ctx, interval, m.Flush, func(err error) { m.Service.logger().Warn("metering flush failed; will retry", "err", err) })
	_ = m.Flush(context.WithoutCancel(ctx))
}

// StoredBytes is the tenant's stored item bytes according to the items read model.
func (s *Service) StoredBytes(ctx context.Context, tenant events.TenantID) (int64, error) {
	raw, err := s.Reader.Get(ctx, projections.ItemsProjection, tenant, projections.ItemStatsCollection, projections.StorageKey)
	if errors.Is(err, projections.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, storeError("read storage", err)
	}
	var st projections.ItemStats
	if err := json.Unmarshal(raw, &st); err != nil {
		return 0, storeError("decode storage", err)
	}
	return st.Bytes, nil
}
