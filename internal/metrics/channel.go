package metrics

import (
	"cmp"
	"sync"
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
	channelProbesDesc = prometheus.NewDesc("cybercoop_channel_probes_total",
		"Probes of a CooperationChannel's peer gateway (mutual-TLS handshake and signed trust bundle), by result "+
			"(success, failure). Both results are exported from the first probe on, so increase() over a window is "+
			"defined for each. Alert when a window holds failures and no success.",
		[]string{"namespace", "name", "result"}, nil)
	channelProbeRoundTripDesc = prometheus.NewDesc("cybercoop_channel_probe_round_trip_seconds",
		"Round-trip time of successful probes of a CooperationChannel's peer gateway, handshake included.",
		[]string{"namespace", "name"}, nil)
	channelLastProbeDesc = prometheus.NewDesc("cybercoop_channel_last_probe_timestamp_seconds",
		"Unix time of the latest probe of a CooperationChannel's peer gateway, successful or not. "+
			"Kept out of the channel's status, which changes only when what the probe found changes.",
		[]string{"namespace", "name"}, nil)
	channelLastHandshakeDesc = prometheus.NewDesc("cybercoop_channel_last_handshake_timestamp_seconds",
		"Unix time of the latest successful probe (mutual-TLS handshake and signed trust bundle) of a "+
			"CooperationChannel's peer gateway. status.peer.handshakeTime is the handshake that confirmed what status reports.",
		[]string{"namespace", "name"}, nil)
	channelRequestsOpenDesc = prometheus.NewDesc("cybercoop_channel_requests_open",
		"Requests the peer sent over a CooperationChannel that this State has not decided yet (status.requests.open).",
		[]string{"namespace", "name"}, nil)
	channelRequestsOverdueDesc = prometheus.NewDesc("cybercoop_channel_requests_overdue",
		"Open requests of a CooperationChannel past their deadline (status.requests.overdue). Alert when above 0.",
		[]string{"namespace", "name"}, nil)
)

// roundTripBuckets are the upper bounds of cybercoop_channel_probe_round_trip_seconds.
var roundTripBuckets = [...]float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// channelSeries is what one channel's series hold: a few numbers, turned into
// metrics only when /metrics is scraped. A channel's seven series as client_golang
// vectors cost about 6 KiB of heap (each series its own label pairs, descriptor
// references and histogram halves); a hub keeps thousands of channels.
type channelSeries struct {
	probed, handshook        bool
	successes, failures      uint64
	lastProbe, lastHandshake int64 // Unix seconds
	roundTrips               uint64
	roundTripSum             float64
	roundTripBuckets         [len(roundTripBuckets)]uint64 // not cumulative
	requestsKnown            bool
	open, overdue            int32
}

type channelKey struct{ namespace, name string }

// channelCollector exports every channel's series at scrape time.
type channelCollector struct {
	mu       sync.Mutex
	channels map[channelKey]*channelSeries
}

var channels = &channelCollector{channels: map[channelKey]*channelSeries{}}

func init() {
	ctrlmetrics.Registry.MustRegister(channels)
}

// Describe implements prometheus.Collector.
func (c *channelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{channelProbesDesc, channelProbeRoundTripDesc, channelLastProbeDesc,
		channelLastHandshakeDesc, channelRequestsOpenDesc, channelRequestsOverdueDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: a copy of the series is taken under the
// lock, and the metrics are built from it without holding it.
func (c *channelCollector) Collect(ch chan<- prometheus.Metric) {
	entries := snapshot(&c.mu, c.channels, func(a, b channelKey) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	for _, e := range entries {
		ns, name, s := e.key.namespace, e.key.name, &e.v
		if s.probed {
			ch <- prometheus.MustNewConstMetric(channelProbesDesc, prometheus.CounterValue, float64(s.successes), ns, name, ProbeSuccess)
			ch <- prometheus.MustNewConstMetric(channelProbesDesc, prometheus.CounterValue, float64(s.failures), ns, name, ProbeFailure)
			ch <- prometheus.MustNewConstMetric(channelLastProbeDesc, prometheus.GaugeValue, float64(s.lastProbe), ns, name)
		}
		if s.handshook {
			ch <- prometheus.MustNewConstMetric(channelLastHandshakeDesc, prometheus.GaugeValue, float64(s.lastHandshake), ns, name)
			buckets := make(map[float64]uint64, len(roundTripBuckets))
			var cumulative uint64
			for i, upper := range roundTripBuckets {
				cumulative += s.roundTripBuckets[i]
				buckets[upper] = cumulative
			}
			ch <- prometheus.MustNewConstHistogram(channelProbeRoundTripDesc, s.roundTrips, s.roundTripSum, buckets, ns, name)
		}
		if s.requestsKnown {
			ch <- prometheus.MustNewConstMetric(channelRequestsOpenDesc, prometheus.GaugeValue, float64(s.open), ns, name)
			ch <- prometheus.MustNewConstMetric(channelRequestsOverdueDesc, prometheus.GaugeValue, float64(s.overdue), ns, name)
		}
	}
}

// update runs f on the channel's series, creating them.
func (c *channelCollector) update(namespace, name string, f func(*channelSeries)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := channelKey{namespace, name}
	s := c.channels[k]
	if s == nil {
		s = &channelSeries{}
		c.channels[k] = s
	}
	f(s)
	if !s.probed && !s.requestsKnown {
		delete(c.channels, k)
	}
}

// ObserveChannelProbe counts one probe of a channel's peer made at at; a
// successful one also records its round trip and the time of its handshake.
func ObserveChannelProbe(namespace, name string, at time.Time, ok bool, roundTrip time.Duration) {
	channels.update(namespace, name, func(s *channelSeries) {
		s.probed = true
		s.lastProbe = at.Unix()
		if !ok {
			s.failures++
			return
		}
		s.successes++
		s.handshook = true
		s.lastHandshake = at.Unix()
		v := roundTrip.Seconds()
		s.roundTrips++
		s.roundTripSum += v
		for i, upper := range roundTripBuckets {
			if v <= upper {
				s.roundTripBuckets[i]++
				break
			}
		}
	})
}

// SetChannelRequests records a channel's open and overdue requests; known false (the
// gateway's count is not in status) removes the series.
func SetChannelRequests(namespace, name string, known bool, open, overdue int32) {
	channels.update(namespace, name, func(s *channelSeries) {
		s.requestsKnown, s.open, s.overdue = known, open, overdue
		if !known {
			s.open, s.overdue = 0, 0
		}
	})
}

// ForgetChannel removes every series of a deleted CooperationChannel but its
// certificate's (ForgetCertificates).
func ForgetChannel(namespace, name string) {
	channels.mu.Lock()
	defer channels.mu.Unlock()
	delete(channels.channels, channelKey{namespace, name})
}
