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
	// transitions counts the lifecycle steps of received requests.
	transitions *prometheus.CounterVec
	// open and overdue are the received requests not decided yet, and those past
	// their deadline, by peer and type, as of the latest scan of the vault.
	open    *prometheus.GaugeVec
	overdue *prometheus.GaugeVec
	// requests and responseTime are the statistics report (articles 55 and
	// 57) over every request held, as of the latest scan.
	requests     *prometheus.GaugeVec
	responseTime *prometheus.GaugeVec
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
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cybercoop_gateway_request_transitions_total",
			Help: "Lifecycle steps of received requests recorded in the vault, by peer, type and the state reached.",
		}, []string{"peer", "type", "state"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cybercoop_gateway_requests_open",
			Help: "Received requests not decided yet, by peer and type, from the custody records (latest scan).",
		}, []string{"peer", "type"}),
		overdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cybercoop_gateway_requests_overdue",
			Help: "Received requests past their deadline and not decided, by peer and type, from the custody records (latest scan).",
		}, []string{"peer", "type"}),
	}
	m.requests = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_gateway_requests",
		Help: "Requests sent and received, by direction (sent, received), partner, type and outcome (the current state), over every request the vault holds, from the custody records (latest scan): the statistics of articles 55 and 57.",
	}, []string{"direction", "partner", "type", "outcome"})
	m.responseTime = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_gateway_response_time_seconds",
		Help: "Time from receipt to decision of the decided requests, by direction, type and quantile (nearest rank; 1 is the longest), from the custody records (latest scan).",
	}, []string{"direction", "type", "quantile"})
	m.registry.MustRegister(m.accepted, m.refused, m.sent, m.channels, m.transitions, m.open, m.overdue, m.requests, m.responseTime)
	return m
}

// MetricsHandler serves the gateway's metrics.
func (s *Server) MetricsHandler() http.Handler {
	if s.metrics == nil {
		s.metrics = newMetrics()
	}
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}
