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
type Meter struct {
	Service *Service

	// counts maps meterKey to *meterCount. Counting is on every request's path,
	// so it takes no lock: a sync.Map lookup and two atomic updates.
	counts  sync.Map
	touched sync.Map // events.TenantID -> struct{}: tenants with item writes since the last flush

	mu     sync.Mutex // serializes Flush
	stored map[events.TenantID]int64
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

// CountRequest counts one authenticated API request of a tenant.
func (m *Meter) CountRequest(tenant string, at time.Time) {
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

// Flush appends the counted usage and any changed storage readings. Counts are
// taken out first (an atomic swap, so counting goes on meanwhile) and put back if
// their append fails, so nothing is lost to a transient error.
func (m *Meter) Flush(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stored == nil {
		m.stored = map[events.TenantID]int64{}
	}
	var errs []error
	m.counts.Range(func(key, value any) bool {
		k, c := key.(meterKey), value.(*meterCount)
		n := c.n.Swap(0)
		if n == 0 {
			return true
		}
		last := time.Unix(0, c.last.Load()).UTC()
		rec := &metering.Recorded{ID: "platform-" + uuid.Must(uuid.NewV7()).String(), Meter: k.meter, Quantity: strconv.FormatInt(n, 10), Timestamp: last, Source: "platform"}
		if err := m.record(ctx, k.tenant, rec); err != nil {
			errs = append(errs, err)
			c.n.Add(n)
		}
		return true
	})
	var touched []events.TenantID
	m.touched.Range(func(key, _ any) bool {
		touched = append(touched, key.(events.TenantID))
		m.touched.Delete(key)
		return true
	})
	for _, tenant := range touched {
		bytes, err := m.Service.StoredBytes(ctx, tenant)
		if err != nil {
			errs = append(errs, err)
			m.touched.Store(tenant, struct{}{})
			continue
		}
		if prev, seen := m.stored[tenant]; seen && prev == bytes {
			continue
		}
		now := m.Service.Clock.Now()
		rec := &metering.Recorded{ID: "platform-" + uuid.Must(uuid.NewV7()).String(), Meter: metering.MeterStorageBytes, Quantity: strconv.FormatInt(bytes, 10), Timestamp: now, Source: "platform"}
		if err := m.record(ctx, tenant, rec); err != nil {
			errs = append(errs, err)
			m.touched.Store(tenant, struct{}{})
			continue
		}
		m.stored[tenant] = bytes
	}
	return errors.Join(errs...)
}

func (m *Meter) record(ctx context.Context, tenant events.TenantID, rec *metering.Recorded) error {
	ne := newEvent(rec)
	ne.ID, ne.OccurredAt = UsageEventID(tenant, rec.ID), rec.Timestamp
	_, err := m.Service.Store.Append(ctx, events.AppendRequest{
		Tenant: tenant, Stream: events.StreamID(UsageStreamID(rec.Timestamp.Format("2006-01"))), StreamType: metering.StreamType,
		Expected: events.AnyVersion, SkipDuplicateIDs: true, Actor: "platform", Events: []events.NewEvent{ne},
	})
	if err != nil {
		return fmt.Errorf("flush %s usage of %s: %w", rec.Meter, tenant, err)
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
