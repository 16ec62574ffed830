package githubapp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the app's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	deliveries *prometheus.CounterVec
	jobs       *prometheus.HistogramVec
}

// NewMetrics registers the app's metrics on reg:
// cac_webhook_deliveries_total{event,outcome} and
// cac_job_duration_seconds{kind,outcome}.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cac_webhook_deliveries_total",
			Help: "Webhook deliveries received, by event and outcome (accepted, duplicate, ignored, bad_signature, bad_request, too_large, error).",
		}, []string{"event", "outcome"}),
		jobs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cac_job_duration_seconds",
			Help:    "Time to work one stored delivery, by event kind and outcome (ok, snoozed, error).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"kind", "outcome"}),
	}
	reg.MustRegister(m.deliveries, m.jobs)
	return m
}

func (m *Metrics) observeDelivery(event, outcome string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(event, outcome).Inc()
}

func (m *Metrics) observeJob(kind, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(kind, outcome).Observe(d.Seconds())
}
