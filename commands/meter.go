package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

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

	mu      sync.Mutex
	counts  map[meterKey]*meterCount
	touched map[events.TenantID]bool
	stored  map[events.TenantID]int64 // last storage reading recorded
}

type meterKey struct {
	tenant events.TenantID
	meter  string
	period string
}

type meterCount struct {
	n    int64
	last time.Time
}

func (m *Meter) add(tenant events.TenantID, meter string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts, m.touched, m.stored = map[meterKey]*meterCount{}, map[events.TenantID]bool{}, map[events.TenantID]int64{}
	}
	k := meterKey{tenant, meter, at.UTC().Format("2006-01")}
	c := m.counts[k]
	if c == nil {
		c = &meterCount{}
		m.counts[k] = c
	}
	c.n++
	if at.After(c.last) {
		c.last = at
	}
	if meter == metering.MeterItemWrites {
		m.touched[tenant] = true
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
// taken out first and put back if their append fails, so nothing is lost to a
// transient error.
func (m *Meter) Flush(ctx context.Context) error {
	m.mu.Lock()
	counts, touched := m.counts, m.touched
	m.counts, m.touched = map[meterKey]*meterCount{}, map[events.TenantID]bool{}
	if m.stored == nil {
		m.stored = map[events.TenantID]int64{}
	}
	m.mu.Unlock()

	var errs []error
	for k, c := range counts {
		rec := &metering.Recorded{ID: "platform-" + uuid.Must(uuid.NewV7()).String(), Meter: k.meter, Quantity: strconv.FormatInt(c.n, 10), Timestamp: c.last.UTC(), Source: "platform"}
		if err := m.record(ctx, k.tenant, rec); err != nil {
			errs = append(errs, err)
			m.mu.Lock()
			if cur := m.counts[k]; cur != nil {
				cur.n += c.n
			} else {
				m.counts[k] = c
			}
			m.mu.Unlock()
		}
	}
	for tenant := range touched {
		bytes, err := m.Service.StoredBytes(ctx, tenant)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.mu.Lock()
		prev, seen := m.stored[tenant]
		m.mu.Unlock()
		if seen && prev == bytes {
			continue
		}
		now := m.Service.Clock.Now()
		rec := &metering.Recorded{ID: "platform-" + uuid.Must(uuid.NewV7()).String(), Meter: metering.MeterStorageBytes, Quantity: strconv.FormatInt(bytes, 10), Timestamp: now, Source: "platform"}
		if err := m.record(ctx, tenant, rec); err != nil {
			errs = append(errs, err)
			continue
		}
		m.mu.Lock()
		m.stored[tenant] = bytes
		m.mu.Unlock()
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
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = m.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			if err := m.Flush(ctx); err != nil {
				m.Service.logger().Warn("metering flush failed; will retry", "err", err)
			}
		}
	}
}

// StoredBytes is the tenant's stored item bytes according to the items read model.
func (s *Service) StoredBytes(ctx context.Context, tenant events.TenantID) (int64, error) {
	raw, err := s.Reader.Get(ctx, ItemsProjection, tenant, projections.ItemStatsCollection, projections.StorageKey)
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
