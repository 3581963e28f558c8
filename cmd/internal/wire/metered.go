package wire

import (
	"context"
	"log/slog"
	"time"

	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/emf"
)

// meteredStore counts appended events as the EventsAppended EMF metric.
type meteredStore struct {
	evs.Store
	metrics *emf.Writer
	log     *slog.Logger
}

// meteredClaimer keeps the inner store's KeyClaimer visible: commands type-assert
// it to batch usage, and hiding it would silently fall back to one append per record.
type meteredClaimer struct {
	*meteredStore
	kc evs.KeyClaimer
}

func meter(s evs.Store, w *emf.Writer, log *slog.Logger) evs.Store {
	m := &meteredStore{Store: s, metrics: w, log: log}
	if kc, ok := s.(evs.KeyClaimer); ok {
		return meteredClaimer{meteredStore: m, kc: kc}
	}
	return m
}

// Append implements events.Store.
func (m *meteredStore) Append(ctx context.Context, req evs.AppendRequest) (evs.AppendResult, error) {
	res, err := m.Store.Append(ctx, req)
	if err == nil && !res.Duplicate && len(res.Events) > 0 {
		if err := m.metrics.Emit(emf.Line{TenantID: string(req.Tenant), Properties: map[string]any{"stream_type": req.StreamType},
			Metrics: []emf.Metric{{Name: "EventsAppended", Unit: emf.Count, Value: float64(len(res.Events))}}}); err != nil {
			m.log.WarnContext(ctx, "emf metric not written", "err", err)
		}
	}
	return res, err
}

// ClaimedKeys implements events.KeyClaimer.
func (m meteredClaimer) ClaimedKeys(ctx context.Context, tenant evs.TenantID, keys []string) (map[string]bool, error) {
	return m.kc.ClaimedKeys(ctx, tenant, keys)
}

// MaxClaimKeys forwards the inner store's limit (DynamoDB's is 99 per append).
func (m meteredClaimer) MaxClaimKeys() int {
	if l, ok := m.kc.(interface{ MaxClaimKeys() int }); ok {
		return l.MaxClaimKeys()
	}
	return evs.DefaultLimits.MaxClaimKeys
}

// SettleWindow forwards the inner store's window (projections.SettleWindower):
// a rebuild waits it out after its switch, and hiding it would silently skip that.
func (m *meteredStore) SettleWindow() time.Duration {
	if w, ok := m.Store.(interface{ SettleWindow() time.Duration }); ok {
		return w.SettleWindow()
	}
	return 0
}
