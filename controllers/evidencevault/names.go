package evidencevault

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
)

// The vault's ports, and where its files are mounted in its container.
const (
	// APIPort is the container and Service port of the vault's mutual-TLS API.
	APIPort = 8443
	// HealthPort serves /healthz, /readyz and /metrics in plain HTTP.
	HealthPort = 8081

	dataDir     = "/var/lib/cybercoop/vault"
	tlsDir      = "/etc/cybercoop/tls"
	trustDir    = "/etc/cybercoop/trust"
	keyringDir  = "/etc/cybercoop/keyring"
	signingDir  = "/etc/cybercoop/checkpoint-key"
	s3CredsDir  = "/etc/cybercoop/s3-credentials"
	s3CADir     = "/etc/cybercoop/s3-ca"
	signingFile = CheckpointKeyFile
	vaultUID    = 65532
)

// CheckpointKeyFile is the signing key's name in CheckpointKeySecretName's data and
// in its mount.
const CheckpointKeyFile = "signing.key"

// vaultName is the name shared by an EvidenceVault's StatefulSet, client Service,
// disruption budget and NetworkPolicy.
func vaultName(ev *cybercoopv1alpha1.EvidenceVault) string { return ev.Name + "-vault" }

// HeadlessServiceName is the StatefulSet's governing Service.
func HeadlessServiceName(ev *cybercoopv1alpha1.EvidenceVault) string {
	return vaultName(ev) + "-headless"
}

// ServingSecretName holds the vault's serving certificate (kubernetes.io/tls).
func ServingSecretName(ev *cybercoopv1alpha1.EvidenceVault) string { return vaultName(ev) + "-tls" }

// OperatorClientSecretName holds the operator's client certificate for the vault's API.
func OperatorClientSecretName(ev *cybercoopv1alpha1.EvidenceVault) string {
	return vaultName(ev) + "-operator-client"
}

// KeyringSecretName holds the encryption keyring: one key per version, named by the version.
func KeyringSecretName(ev *cybercoopv1alpha1.EvidenceVault) string { return vaultName(ev) + "-keyring" }

// CheckpointKeySecretName holds the signed-note key that signs the custody log's checkpoints.
func CheckpointKeySecretName(ev *cybercoopv1alpha1.EvidenceVault) string {
	return vaultName(ev) + "-checkpoint-key"
}

// ClaimName is the volume claim of the vault's only replica, made from the
// StatefulSet's claim template.
func ClaimName(ev *cybercoopv1alpha1.EvidenceVault) string { return "data-" + vaultName(ev) + "-0" }

// ServiceHost is the vault API's in-cluster host name, which its serving certificate carries.
func ServiceHost(ev *cybercoopv1alpha1.EvidenceVault) string {
	return fmt.Sprintf("%s.%s.svc", vaultName(ev), ev.Namespace)
}

// OperatorIdentity is the URI the operator's client certificate carries, and the
// principal the vault grants the operator's roles to.
func OperatorIdentity(namespace string) string {
	return "spiffe://cybercoop.io/ns/" + namespace + "/operator"
}

// selectorLabels select the vault's pods; they never change.
func selectorLabels(ev *cybercoopv1alpha1.EvidenceVault) map[string]string {
	return map[string]string{"app.kubernetes.io/name": "cybercoop-vault", "app.kubernetes.io/instance": ev.Name}
}

func commonLabels(ev *cybercoopv1alpha1.EvidenceVault) map[string]string {
	l := selectorLabels(ev)
	l["app.kubernetes.io/component"] = "evidence-vault"
	l["app.kubernetes.io/part-of"] = "cybercoop"
	l[apply.ManagedLabel] = apply.ManagedValue
	return l
}

func objectMeta(ev *cybercoopv1alpha1.EvidenceVault, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ev.Namespace, Labels: commonLabels(ev)}
}
