// Package metrics holds the operator's own Prometheus metrics. They are registered on
// controller-runtime's metrics.Registry, so the manager's /metrics endpoint serves them
// with the controller metrics and no wiring is needed in main.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Certificate roles, the values of the "role" label.
const (
	// RoleCA is a national CA certificate.
	RoleCA = "ca"
	// RoleGatewayServing is a gateway's TLS serving certificate.
	RoleGatewayServing = "gateway-serving"
	// RoleGatewayClient is a gateway's client certificate for its evidence vault.
	RoleGatewayClient = "gateway-vault-client"
	// RoleOfficer is the local officers' credential for the gateway's outbound API.
	RoleOfficer = "officer"
	// RoleOperatorClient is the operator's credential for its gateway's cases summary.
	RoleOperatorClient = "gateway-operator-client"
)

var certificateExpiration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cybercoop_certificate_expiration_timestamp_seconds",
	Help: "Unix time at which a certificate the operator manages expires (its notAfter), by owning resource and role. " +
		"Alert on time() approaching it: a renewal is failing.",
}, []string{"namespace", "kind", "name", "role"})

var certificateRenewal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cybercoop_certificate_renewal_timestamp_seconds",
	Help: "Unix time from which the operator renews a certificate it manages (2/3 of its lifetime, or renewBefore " +
		"ahead of notAfter), by owning resource and role. A renewal replaces the series' value with the new " +
		"certificate's; time() well past it means the renewal is not happening.",
}, []string{"namespace", "kind", "name", "role"})

func init() {
	ctrlmetrics.Registry.MustRegister(certificateExpiration, certificateRenewal)
}

// SetCertificateExpiration records the notAfter of the certificate with role that the
// resource kind namespace/name owns.
func SetCertificateExpiration(namespace, kind, name, role string, notAfter time.Time) {
	certificateExpiration.WithLabelValues(namespace, kind, name, role).Set(float64(notAfter.Unix()))
}

// SetCertificateRenewal records the renewal time of the certificate with role that
// the resource kind namespace/name owns.
func SetCertificateRenewal(namespace, kind, name, role string, renewalTime time.Time) {
	certificateRenewal.WithLabelValues(namespace, kind, name, role).Set(float64(renewalTime.Unix()))
}

// DeleteCertificateExpiration removes the series (expiry and renewal time) of one
// certificate role.
func DeleteCertificateExpiration(namespace, kind, name, role string) {
	certificateExpiration.DeleteLabelValues(namespace, kind, name, role)
	certificateRenewal.DeleteLabelValues(namespace, kind, name, role)
}

// ForgetCertificates removes every series of the resource kind namespace/name, e.g.
// when it is deleted, so no stale expiry lingers and alerts. Given the roles the kind
// publishes, it deletes exactly those series; without, it scans every series, which
// costs a scan of thousands for each channel event when a country has thousands of
// channels.
func ForgetCertificates(namespace, kind, name string, roles ...string) {
	if len(roles) > 0 {
		for _, role := range roles {
			DeleteCertificateExpiration(namespace, kind, name, role)
		}
		return
	}
	certificateExpiration.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "kind": kind, "name": name})
	certificateRenewal.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "kind": kind, "name": name})
}

// CertificateExpiration returns the recorded expiry of one certificate and whether a
// series exists. Tests and diagnostics use it; it never creates a series.
func CertificateExpiration(namespace, kind, name, role string) (time.Time, bool) {
	want := map[string]string{"namespace": namespace, "kind": kind, "name": name, "role": role}
	ch := make(chan prometheus.Metric)
	go func() { certificateExpiration.Collect(ch); close(ch) }()
	var (
		found    bool
		notAfter time.Time
	)
	for metric := range ch {
		m := &dto.Metric{}
		if err := metric.Write(m); err != nil {
			continue
		}
		matches := 0
		for _, lp := range m.GetLabel() {
			if want[lp.GetName()] == lp.GetValue() {
				matches++
			}
		}
		if matches == len(want) {
			found, notAfter = true, time.Unix(int64(m.GetGauge().GetValue()), 0)
		}
	}
	return notAfter, found
}
