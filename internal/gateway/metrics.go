package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus series, served on the health port.
type metrics struct {
	registry *prometheus.Registry
	accepted *prometheus.CounterVec
	refused  *prometheus.CounterVec
	sent     *prometheus.CounterVec
	channels prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cybercoop_gateway_requests_accepted_total",
			Help: "Requests from peer States recorded in the vault and acknowledged with a receipt, by peer and type.",
		}, []string{"peer", "type"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cybercoop_gateway_requests_refused_total",
			Help: "Requests refused, by caller (peer country, \"officers\" or \"unknown\") and reason.",
		}, []string{"caller", "reason"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cybercoop_gateway_requests_sent_total",
			Help: "Requests officers sent to peer States whose receipt verified and was stored, by peer and type.",
		}, []string{"peer", "type"}),
		channels: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cybercoop_gateway_channels",
			Help: "Channels loaded from the channels file.",
		}),
	}
	m.registry.MustRegister(m.accepted, m.refused, m.sent, m.channels)
	return m
}

// MetricsHandler serves the gateway's metrics.
func (s *Server) MetricsHandler() http.Handler {
	if s.metrics == nil {
		s.metrics = newMetrics()
	}
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}
