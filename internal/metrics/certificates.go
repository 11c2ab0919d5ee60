// Package metrics holds the operator's own Prometheus metrics. They are registered on
// controller-runtime's metrics.Registry, so the manager's /metrics endpoint serves them
// with the controller metrics and no wiring is needed in main.
package metrics

import (
	"cmp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

var (
	certificateExpirationDesc = prometheus.NewDesc("cybercoop_certificate_expiration_timestamp_seconds",
		"Unix time at which a certificate the operator manages expires (its notAfter), by owning resource and role. "+
			"Alert on time() approaching it: a renewal is failing.",
		[]string{"namespace", "kind", "name", "role"}, nil)
	certificateRenewalDesc = prometheus.NewDesc("cybercoop_certificate_renewal_timestamp_seconds",
		"Unix time from which the operator renews a certificate it manages (2/3 of its lifetime, or renewBefore "+
			"ahead of notAfter), by owning resource and role. A renewal replaces the series' value with the new "+
			"certificate's; time() well past it means the renewal is not happening.",
		[]string{"namespace", "kind", "name", "role"}, nil)
)

// certificateKey names one certificate: its owning resource and role.
type certificateKey struct{ namespace, kind, name, role string }

// certificateSeries are one certificate's two series, turned into metrics only when
// /metrics is scraped (as a channel's: every channel has a client certificate).
type certificateSeries struct {
	notAfter, renewal       int64 // Unix seconds
	hasNotAfter, hasRenewal bool
}

type certificateCollector struct {
	mu    sync.Mutex
	certs map[certificateKey]*certificateSeries
}

var certificates = &certificateCollector{certs: map[certificateKey]*certificateSeries{}}

func init() {
	ctrlmetrics.Registry.MustRegister(certificates)
}

// Describe implements prometheus.Collector.
func (c *certificateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- certificateExpirationDesc
	ch <- certificateRenewalDesc
}

// Collect implements prometheus.Collector, from a copy taken under the lock.
func (c *certificateCollector) Collect(ch chan<- prometheus.Metric) {
	entries := snapshot(&c.mu, c.certs, func(a, b certificateKey) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name), cmp.Compare(a.role, b.role))
	})
	for _, e := range entries {
		k := e.key
		if e.v.hasNotAfter {
			ch <- prometheus.MustNewConstMetric(certificateExpirationDesc, prometheus.GaugeValue, float64(e.v.notAfter), k.namespace, k.kind, k.name, k.role)
		}
		if e.v.hasRenewal {
			ch <- prometheus.MustNewConstMetric(certificateRenewalDesc, prometheus.GaugeValue, float64(e.v.renewal), k.namespace, k.kind, k.name, k.role)
		}
	}
}

func (c *certificateCollector) update(k certificateKey, f func(*certificateSeries)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.certs[k]
	if s == nil {
		s = &certificateSeries{}
		c.certs[k] = s
	}
	f(s)
}

// SetCertificateExpiration records the notAfter of the certificate with role that the
// resource kind namespace/name owns.
func SetCertificateExpiration(namespace, kind, name, role string, notAfter time.Time) {
	certificates.update(certificateKey{namespace, kind, name, role}, func(s *certificateSeries) {
		s.notAfter, s.hasNotAfter = notAfter.Unix(), true
	})
}

// SetCertificateRenewal records the renewal time of the certificate with role that
// the resource kind namespace/name owns.
func SetCertificateRenewal(namespace, kind, name, role string, renewalTime time.Time) {
	certificates.update(certificateKey{namespace, kind, name, role}, func(s *certificateSeries) {
		s.renewal, s.hasRenewal = renewalTime.Unix(), true
	})
}

// DeleteCertificateExpiration removes the series (expiry and renewal time) of one
// certificate role.
func DeleteCertificateExpiration(namespace, kind, name, role string) {
	certificates.mu.Lock()
	defer certificates.mu.Unlock()
	delete(certificates.certs, certificateKey{namespace, kind, name, role})
}

// ForgetCertificates removes every series of the resource kind namespace/name, e.g.
// when it is deleted, so no stale expiry lingers and alerts. Given the roles the kind
// publishes, it deletes exactly those series; without, it scans every certificate,
// which costs a scan of thousands for each channel event when a country has
// thousands of channels.
func ForgetCertificates(namespace, kind, name string, roles ...string) {
	if len(roles) > 0 {
		for _, role := range roles {
			DeleteCertificateExpiration(namespace, kind, name, role)
		}
		return
	}
	certificates.mu.Lock()
	defer certificates.mu.Unlock()
	for k := range certificates.certs {
		if k.namespace == namespace && k.kind == kind && k.name == name {
			delete(certificates.certs, k)
		}
	}
}

// CertificateExpiration returns the recorded expiry of one certificate and whether a
// series exists. Tests and diagnostics use it; it never creates a series.
func CertificateExpiration(namespace, kind, name, role string) (time.Time, bool) {
	certificates.mu.Lock()
	defer certificates.mu.Unlock()
	s := certificates.certs[certificateKey{namespace, kind, name, role}]
	if s == nil || !s.hasNotAfter {
		return time.Time{}, false
	}
	return time.Unix(s.notAfter, 0), true
}
