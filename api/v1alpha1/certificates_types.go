package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The certificate settings and status that every kind shares. A kind that holds
// leaves from its FocalPoint's national CA embeds LeafCertificateSpec in its spec and
// reports each leaf as a CertificateStatus; the CA's own settings (lifetime, rotation
// policy, cert-manager issuer) stay with the FocalPoint, which owns the CA.

// KeyAlgorithm is the algorithm and size of the private keys the operator generates.
// +kubebuilder:validation:Enum=ECDSAP256;ECDSAP384;RSA3072
type KeyAlgorithm string

const (
	// KeyAlgorithmECDSAP256 is ECDSA on NIST P-256 with SHA-256 signatures: compact, fast,
	// accepted by every TLS stack the services talk to.
	KeyAlgorithmECDSAP256 KeyAlgorithm = "ECDSAP256"
	// KeyAlgorithmECDSAP384 is ECDSA on NIST P-384 with SHA-384 signatures, for a policy
	// that asks for a 192-bit security level.
	KeyAlgorithmECDSAP384 KeyAlgorithm = "ECDSAP384"
	// KeyAlgorithmRSA3072 is a 3072-bit RSA key, for peers that cannot use ECDSA.
	KeyAlgorithmRSA3072 KeyAlgorithm = "RSA3072"
)

// LeafCertificateSpec sets the lifetime of the leaf certificates issued for a resource
// from its national CA (or by cert-manager). Every field is optional.
// +kubebuilder:validation:XValidation:rule="!has(self.leafDuration) || !has(self.leafRenewBefore) || duration(self.leafRenewBefore) < duration(self.leafDuration)",message="leafRenewBefore must be shorter than leafDuration"
type LeafCertificateSpec struct {
	// leafDuration is the lifetime of issued leaf certificates. Default 2160h (90 days).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="must be between 1h and 8760h (365 days)"
	LeafDuration *metav1.Duration `json:"leafDuration,omitempty"`

	// leafRenewBefore is how long before expiry a leaf is renewed. Default: at 2/3 of its lifetime.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5m')",message="must be at least 5m"
	LeafRenewBefore *metav1.Duration `json:"leafRenewBefore,omitempty"`
}

// CertificateStatus is what the operator knows about one certificate it issued. The
// forms match `openssl x509 -noout -dates -serial -fingerprint -sha256`.
type CertificateStatus struct {
	// secretName is the Secret holding the certificate and its key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`
	// notBefore is the start of the certificate's validity.
	// +required
	NotBefore metav1.Time `json:"notBefore,omitzero"`
	// notAfter is the end of the certificate's validity.
	// +required
	NotAfter metav1.Time `json:"notAfter,omitzero"`
	// renewalTime is when the operator renews the certificate.
	// +required
	RenewalTime metav1.Time `json:"renewalTime,omitzero"`
	// serialNumber is the serial in uppercase hex.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	SerialNumber string `json:"serialNumber,omitempty"`
	// sha256Fingerprint is the SHA-256 of the DER certificate, uppercase colon-separated hex.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=95
	SHA256Fingerprint string `json:"sha256Fingerprint,omitempty"`
	// caGeneration counts CA keys: 1 for the first, one more after each key replacement.
	// For a leaf it is the generation of the CA key that issued it; 0 for a leaf issued
	// by cert-manager, whose CA the operator does not hold.
	// +required
	CAGeneration int64 `json:"caGeneration"`
}

// TrustBundleStatus describes the published trust bundle.
type TrustBundleStatus struct {
	// secretName is the Secret whose ca.crt holds the bundle.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`
	// caCount is the number of CA certificates in the bundle: 1, or 2 during a key replacement;
	// 0 when the bundle cannot be parsed.
	// +required
	CACount int32 `json:"caCount"`
	// sha256 is the SHA-256 of the bundle's PEM bytes in lowercase hex, the value of the
	// gateway pod template's cybercoop.io/trust-bundle-hash annotation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	SHA256 string `json:"sha256,omitempty"`
}

// CARotationPhase is the progress of a CA key replacement.
// +kubebuilder:validation:Enum=Idle;BundleExtended;BundleObserved;LeavesReissued
type CARotationPhase string

const (
	// CARotationIdle: no key replacement under way.
	CARotationIdle CARotationPhase = "Idle"
	// CARotationBundleExtended: the trust bundle holds the old and the new CA; leaves are
	// still issued from the old CA until every consumer has loaded the bundle.
	CARotationBundleExtended CARotationPhase = "BundleExtended"
	// CARotationBundleObserved: every consumer runs with the extended bundle; leaves are
	// being re-issued from the new CA.
	CARotationBundleObserved CARotationPhase = "BundleObserved"
	// CARotationLeavesReissued: every leaf is issued by the new CA; the old CA is pruned once every
	// gateway pod has loaded the re-issued leaf (a completed rollout of a pod template naming it).
	CARotationLeavesReissued CARotationPhase = "LeavesReissued"
)

// CARotationStatus reports a CA key replacement. The phase is also recorded on the CA
// Secret, so an operator restarted at any point resumes the rollout.
type CARotationStatus struct {
	// phase is the rollout's progress; Idle when no replacement is under way.
	// +required
	Phase CARotationPhase `json:"phase,omitempty"`
	// startedAt is when the replacement began; unset when Idle.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// message says what the rollout is doing or waiting for.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// waitingForPeers names the CooperationChannels whose peer has not yet accepted
	// the new CA: no certificate is issued from it until each has (a probe completed
	// a handshake at the peer with a certificate from the new CA), or until a week
	// before the old CA expires.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	WaitingForPeers []string `json:"waitingForPeers,omitempty"`
}
