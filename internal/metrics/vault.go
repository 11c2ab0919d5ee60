package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var vaultLogConsistent = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cybercoop_evidence_vault_log_consistent",
	Help: "1 when an EvidenceVault's newest custody-log checkpoint extends the one recorded in its status, 0 when the log " +
		"shrank, forked or was rewritten. Absent while the vault cannot be reached. Alert on 0.",
}, []string{"namespace", "name"})

func init() {
	ctrlmetrics.Registry.MustRegister(vaultLogConsistent)
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

// ForgetVault removes the series of a deleted EvidenceVault.
func ForgetVault(namespace, name string) {
	vaultLogConsistent.DeleteLabelValues(namespace, name)
}
