package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Values of the result label of cybercoop_channel_probes_total.
const (
	// ProbeSuccess: the mutual-TLS handshake and the peer's signed trust bundle verified.
	ProbeSuccess = "success"
	// ProbeFailure: the peer could not be reached or verified.
	ProbeFailure = "failure"
)

var (
	channelProbes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cybercoop_channel_probes_total",
		Help: "Probes of a CooperationChannel's peer gateway (mutual-TLS handshake and signed trust bundle), by result " +
			"(success, failure). Both results are exported from the first probe on, so increase() over a window is " +
			"defined for each. Alert when a window holds failures and no success.",
	}, []string{"namespace", "name", "result"})
	channelProbeRoundTrip = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cybercoop_channel_probe_round_trip_seconds",
		Help:    "Round-trip time of successful probes of a CooperationChannel's peer gateway, handshake included.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"namespace", "name"})
	channelLastProbe = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_channel_last_probe_timestamp_seconds",
		Help: "Unix time of the latest probe of a CooperationChannel's peer gateway, successful or not. " +
			"Kept out of the channel's status, which changes only when what the probe found changes.",
	}, []string{"namespace", "name"})
	channelLastHandshake = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_channel_last_handshake_timestamp_seconds",
		Help: "Unix time of the latest successful probe (mutual-TLS handshake and signed trust bundle) of a " +
			"CooperationChannel's peer gateway. status.peer.handshakeTime is the handshake that confirmed what status reports.",
	}, []string{"namespace", "name"})
	channelRequestsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_channel_requests_open",
		Help: "Requests the peer sent over a CooperationChannel that this State has not decided yet (status.requests.open).",
	}, []string{"namespace", "name"})
	channelRequestsOverdue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_channel_requests_overdue",
		Help: "Open requests of a CooperationChannel past their deadline (status.requests.overdue). Alert when above 0.",
	}, []string{"namespace", "name"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(channelProbes, channelProbeRoundTrip, channelLastProbe, channelLastHandshake,
		channelRequestsOpen, channelRequestsOverdue)
}

// ObserveChannelProbe counts one probe of a channel's peer made at at; a
// successful one also records its round trip and the time of its handshake.
func ObserveChannelProbe(namespace, name string, at time.Time, ok bool, roundTrip time.Duration) {
	success := channelProbes.WithLabelValues(namespace, name, ProbeSuccess)
	failure := channelProbes.WithLabelValues(namespace, name, ProbeFailure)
	channelLastProbe.WithLabelValues(namespace, name).Set(float64(at.Unix()))
	if !ok {
		failure.Inc()
		return
	}
	success.Inc()
	channelProbeRoundTrip.WithLabelValues(namespace, name).Observe(roundTrip.Seconds())
	channelLastHandshake.WithLabelValues(namespace, name).Set(float64(at.Unix()))
}

// SetChannelRequests records a channel's open and overdue requests; known false (the
// gateway's count is not in status) removes the series.
func SetChannelRequests(namespace, name string, known bool, open, overdue int32) {
	if !known {
		channelRequestsOpen.DeleteLabelValues(namespace, name)
		channelRequestsOverdue.DeleteLabelValues(namespace, name)
		return
	}
	channelRequestsOpen.WithLabelValues(namespace, name).Set(float64(open))
	channelRequestsOverdue.WithLabelValues(namespace, name).Set(float64(overdue))
}

// ForgetChannel removes every series of a deleted CooperationChannel but its
// certificate's (ForgetCertificates).
func ForgetChannel(namespace, name string) {
	channelProbes.DeleteLabelValues(namespace, name, ProbeSuccess)
	channelProbes.DeleteLabelValues(namespace, name, ProbeFailure)
	channelProbeRoundTrip.DeleteLabelValues(namespace, name)
	channelLastProbe.DeleteLabelValues(namespace, name)
	channelLastHandshake.DeleteLabelValues(namespace, name)
	channelRequestsOpen.DeleteLabelValues(namespace, name)
	channelRequestsOverdue.DeleteLabelValues(namespace, name)
}
