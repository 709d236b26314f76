package queue

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the queue's Prometheus metrics. A nil *Metrics counts nothing.
type Metrics struct {
	Accepted     prometheus.Counter
	Sent         prometheus.Counter
	Failed       *prometheus.CounterVec
	Retries      *prometheus.CounterVec
	Parked       prometheus.Counter
	SendDuration prometheus.Histogram
	// Throttled counts the provider's throttling replies, by reason
	// (rate_limited, quota); LeaseLost the sends whose lease was lost.
	Throttled *prometheus.CounterVec
	LeaseLost prometheus.Counter
}

// NewMetrics registers the queue's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "envoi_messages_accepted_total", Help: "Messages accepted by the API or the CLI."}),
		Sent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "envoi_messages_sent_total", Help: "Messages the SMTP server accepted."}),
		Failed:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_messages_failed_total", Help: "Messages ended in failed, by error code."}, []string{"code"}),
		Retries:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_send_retries_total", Help: "Temporary send failures scheduled for retry, by error code."}, []string{"code"}),
		Parked:   prometheus.NewCounter(prometheus.CounterOpts{Name: "envoi_messages_parked_total", Help: "Messages parked until an operator consents again."}),
		SendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "envoi_send_duration_seconds", Help: "Time to send one message over SMTP, token included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
	}
	m.Throttled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_throttle_replies_total", Help: "Throttling replies of providers (pacing, not failures), by reason."}, []string{"reason"})
	m.LeaseLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "envoi_send_lease_lost_total", Help: "Sends whose lease was lost mid-send; their outcome was not recorded."})
	reg.MustRegister(m.Accepted, m.Sent, m.Failed, m.Retries, m.Parked, m.SendDuration, m.Throttled, m.LeaseLost)
	return m
}

func (m *Metrics) accepted() {
	if m != nil {
		m.Accepted.Inc()
	}
}

func (m *Metrics) sent() {
	if m != nil {
		m.Sent.Inc()
	}
}

func (m *Metrics) failed(code string) {
	if m != nil {
		m.Failed.WithLabelValues(code).Inc()
	}
}

func (m *Metrics) retried(code string) {
	if m != nil {
		m.Retries.WithLabelValues(code).Inc()
	}
}

func (m *Metrics) parked() {
	if m != nil {
		m.Parked.Inc()
	}
}

func (m *Metrics) observeSend(d time.Duration) {
	if m != nil {
		m.SendDuration.Observe(d.Seconds())
	}
}

func (m *Metrics) throttled(reason string) {
	if m != nil {
		m.Throttled.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) leaseLost() {
	if m != nil {
		m.LeaseLost.Inc()
	}
}
