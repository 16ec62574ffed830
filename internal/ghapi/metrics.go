package ghapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus collectors for GitHub API traffic. A nil
// *Metrics is valid and records nothing, so tests and tools can leave it out.
type Metrics struct {
	requests      *prometheus.CounterVec
	rateRemaining *prometheus.GaugeVec
	retries       *prometheus.CounterVec
}

// NewMetrics creates the GitHub API collectors and registers them on reg:
//
//   - cac_github_requests_total{method, status}: every attempt sent, status
//     being the HTTP code ("200", "502", …) or "error" for transport errors;
//   - cac_github_rate_limit_remaining{resource}: the last X-RateLimit-Remaining
//     seen for an X-RateLimit-Resource ("core", "search", …; "unknown" when
//     GitHub did not say);
//   - cac_github_retries_total{reason}: retries sent, by reason (see the
//     Reason constants).
//
// A nil reg leaves the collectors unregistered. Calling NewMetrics twice with
// the same registry returns Metrics that share the already registered
// collectors. Any other registration conflict is a programming error and
// panics, as with [prometheus.MustRegister].
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cac_github_requests_total",
			Help: "GitHub API requests sent, by method and HTTP status (\"error\" for transport errors). Each retry counts as a request.",
		}, []string{"method", "status"}),
		rateRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cac_github_rate_limit_remaining",
			Help: "Requests left in the current GitHub rate-limit window, from the last response's X-RateLimit-Remaining, by X-RateLimit-Resource.",
		}, []string{"resource"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cac_github_retries_total",
			Help: "GitHub API requests retried, by reason (5xx, secondary_rate_limit, rate_limit, transport).",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m
	}
	m.requests = register(reg, m.requests)
	m.rateRemaining = register(reg, m.rateRemaining)
	m.retries = register(reg, m.retries)
	return m
}

// register registers c on reg, or returns the identical collector registered
// earlier.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

func (m *Metrics) observeRequest(method string, resp *http.Response, err error) {
	if m == nil {
		return
	}
	status := "error"
	if err == nil && resp != nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	m.requests.WithLabelValues(method, status).Inc()
}

func (m *Metrics) observeRateLimit(h http.Header) {
	if m == nil {
		return
	}
	v := h.Get(headerRateRemaining)
	if v == "" {
		return
	}
	remaining, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return
	}
	resource := h.Get(headerRateResource)
	if resource == "" {
		resource = "unknown"
	}
	m.rateRemaining.WithLabelValues(resource).Set(remaining)
}

func (m *Metrics) observeRetry(reason string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(reason).Inc()
}
