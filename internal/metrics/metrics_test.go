package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/ptr"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// seriesOf returns the series of collector whose labels include want, each as its
// label values joined by "/" in label-name order, mapped to its gauge or counter
// value (a histogram's sample count). Reading never creates a series.
func seriesOf(t *testing.T, c prometheus.Collector, want map[string]string) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for metric := range ch {
		m := &dto.Metric{}
		if err := metric.Write(m); err != nil {
			t.Fatal(err)
		}
		var values []string
		matches := 0
		for _, lp := range m.GetLabel() {
			values = append(values, lp.GetValue())
			if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
				matches++
			}
		}
		if matches != len(want) {
			continue
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		out[strings.Join(values, "/")] = v
	}
	return out
}

func expectSeries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: series %v, want %v", what, got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("%s: series %v, want %v", what, got, want)
		}
	}
}

// The registry the manager serves holds every series under the names the chart's
// alerts and promtool tests use.
func TestRegisteredOnManagerRegistry(t *testing.T) {
	SetComplianceControls("reg", "p", map[string]float64{"roster-24x7": ControlPassValue})
	SetRosterCoverage("reg", "fp", true, 60, 10080)
	ObserveChannelProbe("reg", "cc", time.Unix(10, 0), true, time.Second)
	SetChannelRequests("reg", "cc", true, 1, 0)
	SetVaultContents("reg", "ev", VaultContents{Objects: ptr.To[int64](1), Bytes: ptr.To[int64](2),
		LastVerification: time.Unix(1, 0), LastVerificationPassed: true, VerificationInterval: time.Hour})
	SetCertificateRenewal("reg", "FocalPoint", "fp", RoleCA, time.Unix(1, 0))
	SetCertificateExpiration("reg", "FocalPoint", "fp", RoleCA, time.Unix(2, 0))
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range []string{
		"cybercoop_compliance_control_result", "cybercoop_focalpoint_roster_coverage_hours", "cybercoop_focalpoint_roster_week_hours",
		"cybercoop_channel_probes_total", "cybercoop_channel_probe_round_trip_seconds", "cybercoop_channel_requests_open",
		"cybercoop_channel_last_probe_timestamp_seconds", "cybercoop_channel_last_handshake_timestamp_seconds",
		"cybercoop_channel_requests_overdue", "cybercoop_evidence_vault_objects", "cybercoop_evidence_vault_bytes",
		"cybercoop_evidence_vault_last_verification_timestamp_seconds", "cybercoop_evidence_vault_last_verification_passed",
		"cybercoop_evidence_vault_verification_interval_seconds", "cybercoop_certificate_renewal_timestamp_seconds",
		"cybercoop_certificate_expiration_timestamp_seconds",
	} {
		if !have[name] {
			t.Errorf("%s is not on the manager's registry", name)
		}
	}
	if v, ok := Value("cybercoop_channel_probes_total", map[string]string{"namespace": "reg", "name": "cc", "result": ProbeSuccess}); !ok || v != 1 {
		t.Errorf("Value of the probe counter: %v, %v; want 1, true", v, ok)
	}
	if v, ok := Value("cybercoop_channel_probe_round_trip_seconds", map[string]string{"namespace": "reg", "name": "cc"}); !ok || v != 1 {
		t.Errorf("Value of the round-trip histogram: %v, %v; want 1 sample, true", v, ok)
	}
	if _, ok := Value("cybercoop_focalpoint_roster_coverage_hours", map[string]string{"namespace": "reg", "name": "other"}); ok {
		t.Error("Value found a series that does not exist")
	}
	ForgetComplianceControls("reg", "p")
	ForgetRosterCoverage("reg", "fp")
	ForgetChannel("reg", "cc")
	ForgetVault("reg", "ev")
	ForgetCertificates("reg", "FocalPoint", "fp")
}

func TestComplianceControls(t *testing.T) {
	ns := map[string]string{"namespace": "compliance"}
	SetComplianceControls("compliance", "fr", map[string]float64{
		"roster-24x7": ControlPassValue, "vault-integrity": ControlFailValue, "data-protection": ControlUnknownValue,
	})
	SetComplianceControls("compliance", "other", map[string]float64{"roster-24x7": ControlFailValue})
	expectSeries(t, "set", seriesOf(t, complianceControlResult, ns), map[string]float64{
		"roster-24x7/compliance/fr": 1, "vault-integrity/compliance/fr": 0, "data-protection/compliance/fr": -1,
		"roster-24x7/compliance/other": 0,
	})
	// A control that changes result is updated; one that leaves the report is removed.
	SetComplianceControls("compliance", "fr", map[string]float64{"roster-24x7": ControlFailValue, "vault-integrity": ControlPassValue})
	expectSeries(t, "update", seriesOf(t, complianceControlResult, ns), map[string]float64{
		"roster-24x7/compliance/fr": 0, "vault-integrity/compliance/fr": 1, "roster-24x7/compliance/other": 0,
	})
	if got := ComplianceControlResults("compliance", "fr"); len(got) != 2 || got["roster-24x7"] != 0 || got["vault-integrity"] != 1 {
		t.Fatalf("ComplianceControlResults %v", got)
	}
	ForgetComplianceControls("compliance", "fr")
	expectSeries(t, "forget", seriesOf(t, complianceControlResult, ns), map[string]float64{"roster-24x7/compliance/other": 0})
	ForgetComplianceControls("compliance", "other")
	if n := testutil.CollectAndCount(complianceControlResult); n != 0 {
		t.Fatalf("%d series left after every profile was forgotten", n)
	}
}

func TestRosterCoverage(t *testing.T) {
	SetRosterCoverage("coverage", "fp", true, 151*60+30, 10080)
	if v := testutil.ToFloat64(rosterCoverageHours.WithLabelValues("coverage", "fp")); v != 151.5 {
		t.Fatalf("coverage hours %v, want 151.5", v)
	}
	if v := testutil.ToFloat64(rosterWeekHours.WithLabelValues("coverage", "fp")); v != 168 {
		t.Fatalf("week hours %v, want 168", v)
	}
	SetRosterCoverage("coverage", "fp", true, 167*60, 167*60) // a week that loses an hour to daylight saving
	if v := testutil.ToFloat64(rosterCoverageHours.WithLabelValues("coverage", "fp")); v != 167 {
		t.Fatalf("coverage hours %v, want 167", v)
	}
	SetRosterCoverage("coverage", "unknown", false, 0, 0)
	expectSeries(t, "unknown", seriesOf(t, rosterCoverageHours, map[string]string{"name": "unknown"}), map[string]float64{})
	ForgetRosterCoverage("coverage", "fp")
	expectSeries(t, "forget", seriesOf(t, rosterCoverageHours, map[string]string{"namespace": "coverage"}), map[string]float64{})
	expectSeries(t, "forget", seriesOf(t, rosterWeekHours, map[string]string{"namespace": "coverage"}), map[string]float64{})
}

func TestChannelProbes(t *testing.T) {
	ns := map[string]string{"namespace": "probes"}
	// The first probe fails: both results exist, so increase() works for each.
	ObserveChannelProbe("probes", "fr", time.Unix(100, 0), false, 0)
	expectSeries(t, "failure", seriesOf(t, channelProbes, ns), map[string]float64{"fr/probes/failure": 1, "fr/probes/success": 0})
	expectSeries(t, "no round trip of a failure", seriesOf(t, channelProbeRoundTrip, ns), map[string]float64{})
	expectSeries(t, "a failure is a probe", seriesOf(t, channelLastProbe, ns), map[string]float64{"fr/probes": 100})
	expectSeries(t, "a failure is no handshake", seriesOf(t, channelLastHandshake, ns), map[string]float64{})
	ObserveChannelProbe("probes", "fr", time.Unix(200, 0), true, 40*time.Millisecond)
	ObserveChannelProbe("probes", "fr", time.Unix(300, 0), true, 3*time.Second)
	expectSeries(t, "successes", seriesOf(t, channelProbes, ns), map[string]float64{"fr/probes/failure": 1, "fr/probes/success": 2})
	expectSeries(t, "last probe", seriesOf(t, channelLastProbe, ns), map[string]float64{"fr/probes": 300})
	expectSeries(t, "last handshake", seriesOf(t, channelLastHandshake, ns), map[string]float64{"fr/probes": 300})
	ObserveChannelProbe("probes", "fr", time.Unix(400, 0), false, 0)
	expectSeries(t, "last probe, failed", seriesOf(t, channelLastProbe, ns), map[string]float64{"fr/probes": 400})
	expectSeries(t, "last handshake kept", seriesOf(t, channelLastHandshake, ns), map[string]float64{"fr/probes": 300})
	err := testutil.CollectAndCompare(channelProbeRoundTrip, strings.NewReader(`
# HELP cybercoop_channel_probe_round_trip_seconds Round-trip time of successful probes of a CooperationChannel's peer gateway, handshake included.
# TYPE cybercoop_channel_probe_round_trip_seconds histogram
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="0.01"} 0
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="0.025"} 0
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="0.05"} 1
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="0.1"} 1
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="0.25"} 1
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="0.5"} 1
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="1"} 1
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="2.5"} 1
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="5"} 2
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="10"} 2
cybercoop_channel_probe_round_trip_seconds_bucket{name="fr",namespace="probes",le="+Inf"} 2
cybercoop_channel_probe_round_trip_seconds_sum{name="fr",namespace="probes"} 3.04
cybercoop_channel_probe_round_trip_seconds_count{name="fr",namespace="probes"} 2
`), "cybercoop_channel_probe_round_trip_seconds")
	if err != nil {
		t.Fatal(err)
	}
	ForgetChannel("probes", "fr")
	expectSeries(t, "forget probes", seriesOf(t, channelProbes, ns), map[string]float64{})
	expectSeries(t, "forget round trip", seriesOf(t, channelProbeRoundTrip, ns), map[string]float64{})
	expectSeries(t, "forget last probe", seriesOf(t, channelLastProbe, ns), map[string]float64{})
	expectSeries(t, "forget last handshake", seriesOf(t, channelLastHandshake, ns), map[string]float64{})
}

func TestChannelRequests(t *testing.T) {
	ns := map[string]string{"namespace": "requests"}
	SetChannelRequests("requests", "fr", true, 3, 0)
	expectSeries(t, "open", seriesOf(t, channelRequestsOpen, ns), map[string]float64{"fr/requests": 3})
	expectSeries(t, "overdue", seriesOf(t, channelRequestsOverdue, ns), map[string]float64{"fr/requests": 0})
	SetChannelRequests("requests", "fr", true, 4, 2)
	expectSeries(t, "open", seriesOf(t, channelRequestsOpen, ns), map[string]float64{"fr/requests": 4})
	expectSeries(t, "overdue", seriesOf(t, channelRequestsOverdue, ns), map[string]float64{"fr/requests": 2})
	SetChannelRequests("requests", "fr", false, 0, 0)
	expectSeries(t, "unknown", seriesOf(t, channelRequestsOpen, ns), map[string]float64{})
	SetChannelRequests("requests", "fr", true, 1, 1)
	ForgetChannel("requests", "fr")
	expectSeries(t, "forget open", seriesOf(t, channelRequestsOpen, ns), map[string]float64{})
	expectSeries(t, "forget overdue", seriesOf(t, channelRequestsOverdue, ns), map[string]float64{})
}

func TestVaultContents(t *testing.T) {
	ns := map[string]string{"namespace": "vault"}
	all := []*prometheus.GaugeVec{vaultObjects, vaultBytes, vaultLastVerification, vaultLastVerificationPassed, vaultVerificationInterval}
	verified := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	SetVaultContents("vault", "ev", VaultContents{Objects: ptr.To[int64](12), Bytes: ptr.To[int64](4096),
		LastVerification: verified, LastVerificationPassed: true, VerificationInterval: 24 * time.Hour})
	SetVaultIntegrity("vault", "ev", true, true)
	for i, want := range []float64{12, 4096, float64(verified.Unix()), 1, 86400} {
		expectSeries(t, "set", seriesOf(t, all[i], ns), map[string]float64{"ev/vault": want})
	}
	// A failed verification; nothing verified yet on a second vault; counts unknown.
	SetVaultContents("vault", "ev", VaultContents{Objects: ptr.To[int64](13), Bytes: ptr.To[int64](5000),
		LastVerification: verified.Add(time.Hour), LastVerificationPassed: false, VerificationInterval: time.Hour})
	SetVaultContents("vault", "new", VaultContents{VerificationInterval: time.Hour})
	for i, want := range []float64{13, 5000, float64(verified.Add(time.Hour).Unix()), 0, 3600} {
		expectSeries(t, "update", seriesOf(t, all[i], map[string]string{"name": "ev"}), map[string]float64{"ev/vault": want})
	}
	for _, g := range all[:4] {
		expectSeries(t, "never verified", seriesOf(t, g, map[string]string{"name": "new"}), map[string]float64{})
	}
	ForgetVault("vault", "ev")
	ForgetVault("vault", "new")
	for _, g := range append(all, vaultLogConsistent) {
		expectSeries(t, "forget", seriesOf(t, g, ns), map[string]float64{})
	}
}

func TestCertificateRenewal(t *testing.T) {
	ns := map[string]string{"namespace": "renewal"}
	renewal := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	SetCertificateExpiration("renewal", "FocalPoint", "fp", RoleCA, renewal.Add(time.Hour))
	SetCertificateRenewal("renewal", "FocalPoint", "fp", RoleCA, renewal)
	SetCertificateRenewal("renewal", "FocalPoint", "fp", RoleGatewayServing, renewal)
	expectSeries(t, "set", seriesOf(t, certificateRenewal, ns), map[string]float64{
		"FocalPoint/fp/renewal/ca": float64(renewal.Unix()), "FocalPoint/fp/renewal/gateway-serving": float64(renewal.Unix()),
	})
	SetCertificateRenewal("renewal", "FocalPoint", "fp", RoleCA, renewal.AddDate(1, 0, 0)) // renewed
	DeleteCertificateExpiration("renewal", "FocalPoint", "fp", RoleGatewayServing)
	expectSeries(t, "update", seriesOf(t, certificateRenewal, ns), map[string]float64{
		"FocalPoint/fp/renewal/ca": float64(renewal.AddDate(1, 0, 0).Unix()),
	})
	ForgetCertificates("renewal", "FocalPoint", "fp", RoleCA)
	expectSeries(t, "forget by role", seriesOf(t, certificateRenewal, ns), map[string]float64{})
	expectSeries(t, "forget expiry", seriesOf(t, certificateExpiration, ns), map[string]float64{})
	SetCertificateRenewal("renewal", "EvidenceVault", "ev", "vault-serving", renewal)
	ForgetCertificates("renewal", "EvidenceVault", "ev")
	expectSeries(t, "forget by scan", seriesOf(t, certificateRenewal, ns), map[string]float64{})
}

// family is the part of a collector that exports one metric family, so a test can
// read one family of the channel collector as it reads a vector.
type family struct {
	c    prometheus.Collector
	name string
}

func (f family) Describe(ch chan<- *prometheus.Desc) {
	descs := make(chan *prometheus.Desc)
	go func() { f.c.Describe(descs); close(descs) }()
	for d := range descs {
		if strings.Contains(d.String(), `fqName: "`+f.name+`"`) {
			ch <- d
		}
	}
}

func (f family) Collect(ch chan<- prometheus.Metric) {
	metrics := make(chan prometheus.Metric)
	go func() { f.c.Collect(metrics); close(metrics) }()
	for m := range metrics {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

var (
	channelProbes          = family{channels, "cybercoop_channel_probes_total"}
	channelProbeRoundTrip  = family{channels, "cybercoop_channel_probe_round_trip_seconds"}
	channelLastProbe       = family{channels, "cybercoop_channel_last_probe_timestamp_seconds"}
	channelLastHandshake   = family{channels, "cybercoop_channel_last_handshake_timestamp_seconds"}
	channelRequestsOpen    = family{channels, "cybercoop_channel_requests_open"}
	channelRequestsOverdue = family{channels, "cybercoop_channel_requests_overdue"}
	certificateExpiration  = family{certificates, "cybercoop_certificate_expiration_timestamp_seconds"}
	certificateRenewal     = family{certificates, "cybercoop_certificate_renewal_timestamp_seconds"}
)

// TestChannelSeriesApart: a probe, then the requests count becoming unknown, keep
// the probe's series; the requests count alone keeps only its own.
func TestChannelSeriesApart(t *testing.T) {
	ns := map[string]string{"namespace": "apart"}
	SetChannelRequests("apart", "de", true, 2, 1)
	expectSeries(t, "requests only", seriesOf(t, channelProbes, ns), map[string]float64{})
	expectSeries(t, "requests only", seriesOf(t, channelRequestsOpen, ns), map[string]float64{"de/apart": 2})
	ObserveChannelProbe("apart", "de", time.Unix(50, 0), true, 20*time.Millisecond)
	SetChannelRequests("apart", "de", false, 0, 0)
	expectSeries(t, "probe kept", seriesOf(t, channelProbes, ns), map[string]float64{"de/apart/failure": 0, "de/apart/success": 1})
	expectSeries(t, "requests gone", seriesOf(t, channelRequestsOverdue, ns), map[string]float64{})
	SetCertificateExpiration("apart", "CooperationChannel", "de", "channel-client", time.Unix(90, 0))
	for _, c := range []prometheus.Collector{channels, certificates} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil || len(problems) > 0 {
			t.Fatalf("lint: %v %v", err, problems)
		}
	}
	ForgetCertificates("apart", "CooperationChannel", "de")
	ForgetChannel("apart", "de")
	expectSeries(t, "forgotten", seriesOf(t, channelLastProbe, ns), map[string]float64{})
}
