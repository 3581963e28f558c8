package projections

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus series, labelled by projection, so lag and
// skipped or parked counts are visible per projection (REFERENCES: KurrentDB, Marten).
type metrics struct {
	applied      *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	parked       *prometheus.CounterVec
	gapFills     *prometheus.CounterVec
	lagEvents    *prometheus.GaugeVec
	behind       *prometheus.GaugeVec
	lagSeconds   *prometheus.HistogramVec
	batchSeconds prometheus.Histogram
	conflicts    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	l := []string{"projection"}
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantstream_projection_events_applied_total", Help: "Events applied to a read model.",
		}, l),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantstream_projection_events_skipped_total", Help: "Delivered events skipped because their version was already applied (duplicates).",
		}, l),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantstream_projection_events_parked_total", Help: "Events whose Apply failed during live processing and were parked.",
		}, l),
		gapFills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantstream_projection_gap_fills_total", Help: "Version gaps filled by reading the event store.",
		}, l),
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tenantstream_projection_lag_events", Help: "Store positions between the head and the last committed batch.",
		}, l),
		behind: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tenantstream_projection_behind_seconds", Help: "Seconds between the last applied event's recorded_at and its commit.",
		}, l),
		lagSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tenantstream_projection_lag_seconds",
			Help:    "Seconds from an event's recorded_at to the commit of its read-model write.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, l),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tenantstream_projection_batch_seconds",
			Help:    "Seconds to apply and commit one batch for all projections.",
			Buckets: prometheus.DefBuckets,
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tenantstream_projection_batch_conflicts_total", Help: "Batch commits that lost a race with another process's and were applied again.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.parked, m.gapFills, m.lagEvents, m.behind, m.lagSeconds, m.batchSeconds, m.conflicts} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
