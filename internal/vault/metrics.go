package vault

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the vault's Prometheus metrics, on a registry of their own so
// that embedding the vault never collides with another component's metrics.
type Metrics struct {
	Registry *prometheus.Registry

	objects         prometheus.Gauge
	bytes           prometheus.Gauge
	ingest          *prometheus.CounterVec
	ingestBytes     prometheus.Counter
	access          *prometheus.CounterVec
	verifyFailures  prometheus.Counter
	verifyFindings  prometheus.Gauge
	lastVerify      prometheus.Gauge
	keyVersionInUse *prometheus.GaugeVec
	certReloads     *prometheus.CounterVec
	ingestsInFlight prometheus.Gauge
}

// NewMetrics creates and registers the vault's metrics on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		objects: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cybercoop_vault_objects", Help: "Live evidence objects in the vault.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cybercoop_vault_bytes", Help: "Plaintext bytes of live evidence objects.",
		}),
		ingest: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cybercoop_vault_ingest_total", Help: "Ingest requests by result (stored, duplicate, failed).",
		}, []string{"result"}),
		ingestBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cybercoop_vault_ingest_bytes_total", Help: "Plaintext bytes ingested (duplicates included).",
		}),
		access: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cybercoop_vault_access_total", Help: "Custody actions other than ingest, by action.",
		}, []string{"action"}),
		verifyFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cybercoop_vault_verify_failures_total", Help: "Verifications that found at least one problem.",
		}),
		verifyFindings: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cybercoop_vault_verify_findings", Help: "Findings of the last verification.",
		}),
		lastVerify: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cybercoop_vault_last_verify_timestamp_seconds", Help: "Unix time of the last verification.",
		}),
		keyVersionInUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cybercoop_vault_key_version_objects", Help: "Live objects sealed under each key version.",
		}, []string{"version"}),
		certReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cybercoop_vault_certificate_reloads_total", Help: "TLS certificate and CA reloads by result (loaded, failed).",
		}, []string{"result"}),
		ingestsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cybercoop_vault_ingests_in_flight", Help: "Ingest requests holding an ingest slot.",
		}),
	}
	m.Registry.MustRegister(m.ingestsInFlight, m.objects, m.bytes, m.ingest, m.ingestBytes, m.access, m.verifyFailures,
		m.verifyFindings, m.lastVerify, m.keyVersionInUse, m.certReloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) setInventory(objects int, bytes int64, versions map[uint32]int) {
	m.objects.Set(float64(objects))
	m.bytes.Set(float64(bytes))
	m.keyVersionInUse.Reset()
	for v, n := range versions {
		m.keyVersionInUse.WithLabelValues(strconv.FormatUint(uint64(v), 10)).Set(float64(n))
	}
}
