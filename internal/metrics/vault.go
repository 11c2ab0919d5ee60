package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var vaultLogConsistent = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cybercoop_evidence_vault_log_consistent",
	Help: "1 when an EvidenceVault's newest custody-log checkpoint extends the one recorded in its status, 0 when the log " +
		"shrank, forked or was rewritten. Absent while the vault cannot be reached. Alert on 0.",
}, []string{"namespace", "name"})

var (
	vaultObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_evidence_vault_objects",
		Help: "Objects stored in an EvidenceVault (status.objects), as the vault last reported.",
	}, []string{"namespace", "name"})
	vaultBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_evidence_vault_bytes",
		Help: "Bytes of evidence stored in an EvidenceVault (status.bytes), as the vault last reported.",
	}, []string{"namespace", "name"})
	vaultLastVerification = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_evidence_vault_last_verification_timestamp_seconds",
		Help: "Unix time at which an EvidenceVault's last full verification finished (status.lastVerification.time). " +
			"Alert when older than twice cybercoop_evidence_vault_verification_interval_seconds.",
	}, []string{"namespace", "name"})
	vaultLastVerificationPassed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_evidence_vault_last_verification_passed",
		Help: "1 when an EvidenceVault's last full verification passed, 0 when it found problems " +
			"(status.lastVerification.result). Alert on 0.",
	}, []string{"namespace", "name"})
	vaultVerificationInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_evidence_vault_verification_interval_seconds",
		Help: "How often an EvidenceVault is to be fully verified (spec.verification.interval, default 24h).",
	}, []string{"namespace", "name"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(vaultLogConsistent, vaultObjects, vaultBytes, vaultLastVerification,
		vaultLastVerificationPassed, vaultVerificationInterval)
}

// VaultContents is what an EvidenceVault's status says of its store; nil fields are
// unknown and their series are removed.
type VaultContents struct {
	Objects, Bytes *int64
	// LastVerification is when the last full verification finished, zero when none
	// is recorded; LastVerificationPassed its result.
	LastVerification       time.Time
	LastVerificationPassed bool
	// VerificationInterval is the interval the verification is due at.
	VerificationInterval time.Duration
}

// SetVaultContents records an EvidenceVault's object and byte counts, its last full
// verification and the interval it is due at.
func SetVaultContents(namespace, name string, c VaultContents) {
	setOrDelete := func(g *prometheus.GaugeVec, known bool, v float64) {
		if !known {
			g.DeleteLabelValues(namespace, name)
			return
		}
		g.WithLabelValues(namespace, name).Set(v)
	}
	setOrDelete(vaultObjects, c.Objects != nil, float64(deref(c.Objects)))
	setOrDelete(vaultBytes, c.Bytes != nil, float64(deref(c.Bytes)))
	verified := !c.LastVerification.IsZero()
	setOrDelete(vaultLastVerification, verified, float64(c.LastVerification.Unix()))
	passed := 0.0
	if c.LastVerificationPassed {
		passed = 1
	}
	setOrDelete(vaultLastVerificationPassed, verified, passed)
	setOrDelete(vaultVerificationInterval, c.VerificationInterval > 0, c.VerificationInterval.Seconds())
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// SetVaultIntegrity records whether the vault's custody log is consistent with its
// recorded checkpoint; known false removes the series (the vault was not reached).
func SetVaultIntegrity(namespace, name string, known, consistent bool) {
	if !known {
		vaultLogConsistent.DeleteLabelValues(namespace, name)
		return
	}
	v := 0.0
	if consistent {
		v = 1
	}
	vaultLogConsistent.WithLabelValues(namespace, name).Set(v)
}

// ForgetVault removes the series of a deleted EvidenceVault but its certificates'
// (ForgetCertificates).
func ForgetVault(namespace, name string) {
	for _, g := range []*prometheus.GaugeVec{vaultLogConsistent, vaultObjects, vaultBytes, vaultLastVerification,
		vaultLastVerificationPassed, vaultVerificationInterval} {
		g.DeleteLabelValues(namespace, name)
	}
}
