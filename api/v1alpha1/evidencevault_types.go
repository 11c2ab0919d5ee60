package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FocalPointReference names a FocalPoint in the same namespace.
type FocalPointReference struct {
	// name is the FocalPoint's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
}

// VaultStorage is the volume the evidence is kept on.
// +kubebuilder:validation:XValidation:rule="quantity(string(self.size)).compareTo(quantity(string(oldSelf.size))) >= 0",message="storage.size may grow but never shrink: a smaller volume could not hold the preserved evidence"
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage.storageClassName is immutable: the evidence already lives on a volume of that class"
type VaultStorage struct {
	// size is the volume's capacity, e.g. 50Gi. It may grow (the volume is expanded if
	// its storage class allows it) but never shrink.
	// +required
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('1Gi')) >= 0",message="storage.size must be at least 1Gi"
	Size resource.Quantity `json:"size"`

	// storageClassName is the StorageClass of the volume. Default: the cluster's
	// default class. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	StorageClassName string `json:"storageClassName,omitempty"`
}

// RetentionSpec says how long evidence is kept.
type RetentionSpec struct {
	// minimumDays is the shortest retention the vault accepts for an object, in days.
	// Default 90. The convention requires preservation for at least 60 days (article
	// 42), so less is refused.
	// +optional
	// +default=90
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=36500
	// +kubebuilder:validation:XValidation:rule="self >= 60",message="retention.minimumDays must be at least 60: the convention requires expedited preservation for at least 60 days"
	MinimumDays int32 `json:"minimumDays,omitempty"`
}

// HashAlgorithm is the digest that content-addresses evidence.
// +kubebuilder:validation:Enum=SHA256;SHA512
type HashAlgorithm string

const (
	// HashSHA256 addresses objects by SHA-256.
	HashSHA256 HashAlgorithm = "SHA256"
	// HashSHA512 addresses objects by SHA-512.
	HashSHA512 HashAlgorithm = "SHA512"
)

// DeletionPolicy says what deleting an EvidenceVault does to the evidence.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionRetain keeps the volume, the keyring and the checkpoint key, detached,
	// so an EvidenceVault created again under the same name adopts them.
	DeletionRetain DeletionPolicy = "Retain"
	// DeletionDelete deletes them, but only once no object is under legal hold or
	// inside its retention.
	DeletionDelete DeletionPolicy = "Delete"
)

// KeyRotationSpec sets how often a new encryption key version becomes active.
type KeyRotationSpec struct {
	// interval is how long a key version seals new objects before a new one is
	// made active. Default 2160h (90 days). Old versions stay while any object uses them.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="keyRotation.interval must be at least 1h"
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// VerificationSpec sets how often the whole store is verified.
type VerificationSpec struct {
	// interval is how often the operator asks the vault to verify its custody chain,
	// Merkle root and every object's digest. Default 24h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5m')",message="verification.interval must be at least 5m"
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// EvidenceVaultSpec declares an evidence store for a FocalPoint.
// +kubebuilder:validation:XValidation:rule="self.focalPointRef == oldSelf.focalPointRef",message="focalPointRef is immutable: the vault's certificates and custody belong to one point of contact; create a new EvidenceVault instead"
// +kubebuilder:validation:XValidation:rule="self.hashAlgorithm == oldSelf.hashAlgorithm",message="hashAlgorithm is immutable: stored evidence is addressed by it"
type EvidenceVaultSpec struct {
	// focalPointRef names the FocalPoint (same namespace) whose national CA issues the
	// vault's certificates and whose gateway may call it. Immutable.
	// +required
	FocalPointRef FocalPointReference `json:"focalPointRef,omitzero"`

	// storage is the volume the evidence is kept on.
	// +required
	Storage *VaultStorage `json:"storage,omitempty"`

	// retention says how long evidence is kept at the least.
	// +optional
	Retention *RetentionSpec `json:"retention,omitempty"`

	// legalHoldByDefault places a legal hold on every ingested object unless the
	// ingest says otherwise. Default false.
	// +optional
	LegalHoldByDefault *bool `json:"legalHoldByDefault,omitempty"`

	// hashAlgorithm content-addresses new objects: SHA256 (the default) or SHA512. Immutable.
	// +optional
	// +default="SHA256"
	HashAlgorithm HashAlgorithm `json:"hashAlgorithm,omitempty"`

	// keyRotation sets how often a new encryption key version becomes active.
	// +optional
	KeyRotation *KeyRotationSpec `json:"keyRotation,omitempty"`

	// verification sets how often the whole store is verified.
	// +optional
	Verification *VerificationSpec `json:"verification,omitempty"`

	// deletionPolicy says what deleting this resource does to the evidence: Retain
	// (the default) keeps the volume, keyring and checkpoint key, detached; Delete
	// removes them, refused while any object is held or inside its retention.
	// +optional
	// +default="Retain"
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// image overrides the vault container image. Default: the operator's own image.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// resources are the vault container's compute requests and limits. Default:
	// requests 100m CPU and 128Mi memory, limit 1Gi memory.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// certificates sets the lifetime of the vault's serving certificate and of the
	// operator's client certificate for it, issued from the FocalPoint's national CA.
	// +optional
	Certificates *LeafCertificateSpec `json:"certificates,omitempty"`
}

// CheckpointStatus is a signed checkpoint of the custody log the operator verified
// and recorded.
type CheckpointStatus struct {
	// size is the number of custody entries the checkpoint covers.
	// +required
	// +kubebuilder:validation:Minimum=0
	Size int64 `json:"size"`
	// rootHash is the Merkle tree root over those entries, base64.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	RootHash string `json:"rootHash,omitempty"`
	// recordedAt is when the operator verified and recorded it.
	// +required
	RecordedAt metav1.Time `json:"recordedAt"`
}

// VerificationStatus is the result of the last full verification.
type VerificationStatus struct {
	// time is when it finished.
	// +required
	Time metav1.Time `json:"time"`
	// result is Passed or Failed.
	// +required
	// +kubebuilder:validation:Enum=Passed;Failed
	Result string `json:"result,omitempty"`
	// objects is how many objects were verified.
	// +required
	// +kubebuilder:validation:Minimum=0
	Objects int64 `json:"objects"`
	// findings is how many problems were found.
	// +required
	// +kubebuilder:validation:Minimum=0
	Findings int32 `json:"findings"`
	// message names the first problems found.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// VaultKeysStatus reports the encryption keyring.
type VaultKeysStatus struct {
	// activeVersion is the key version that seals new objects.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ActiveVersion int32 `json:"activeVersion,omitempty"`
	// versions are the key versions in the keyring.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Versions []int32 `json:"versions,omitempty"`
	// versionsInUse are the versions the vault reports objects sealed under.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	VersionsInUse []int32 `json:"versionsInUse,omitempty"`
	// nextRotation is when a new version becomes active.
	// +optional
	NextRotation *metav1.Time `json:"nextRotation,omitempty"`
}

// EvidenceVaultCertificatesStatus reports the vault's certificates.
type EvidenceVaultCertificatesStatus struct {
	// serving is the vault's serving certificate.
	// +optional
	Serving *CertificateStatus `json:"serving,omitempty"`
	// operatorClient is the operator's client certificate for the vault's API.
	// +optional
	OperatorClient *CertificateStatus `json:"operatorClient,omitempty"`
}

// EvidenceVaultStatus reports whether the evidence store is operating and intact.
type EvidenceVaultStatus struct {
	// conditions are Ready, StorageBound, KeysReady, CertificateReady and IntegrityVerified.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the status was computed from.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// endpoint is the vault API's in-cluster address.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Endpoint string `json:"endpoint,omitempty"`

	// objects is the number of live objects, as the vault last reported.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Objects *int64 `json:"objects,omitempty"`
	// bytes is their total size in bytes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Bytes *int64 `json:"bytes,omitempty"`
	// held is how many objects are under at least one legal hold.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Held *int64 `json:"held,omitempty"`
	// pastRetention is how many objects are past their retention and under no hold:
	// they may be expired by a holder of the vault's expire role; nothing expires them
	// on its own.
	// +optional
	// +kubebuilder:validation:Minimum=0
	PastRetention *int64 `json:"pastRetention,omitempty"`
	// size is bytes for people, e.g. "1.2 GiB".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Size string `json:"size,omitempty"`

	// keys reports the encryption keyring.
	// +optional
	Keys *VaultKeysStatus `json:"keys,omitempty"`

	// checkpointVerifierKey is the signed-note verifier key of the vault's checkpoints
	// (name+hash+key), so anyone holding a checkpoint can check its signature.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	CheckpointVerifierKey string `json:"checkpointVerifierKey,omitempty"`
	// checkpoint is the latest checkpoint verified consistent with the one before.
	// +optional
	Checkpoint *CheckpointStatus `json:"checkpoint,omitempty"`
	// lastVerification is the result of the last full verification.
	// +optional
	LastVerification *VerificationStatus `json:"lastVerification,omitempty"`

	// certificates reports the vault's serving certificate and the operator's client
	// certificate for it.
	// +optional
	Certificates *EvidenceVaultCertificatesStatus `json:"certificates,omitempty"`
}

// EvidenceVault is a store for preserved electronic evidence (articles 25 and 42):
// encrypted, content-addressed, with a custody log anchored in this status, and
// never deleted with the resource unless asked.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ev,categories=cybercoop
// +kubebuilder:printcolumn:name="Focal Point",type=string,JSONPath=".spec.focalPointRef.name"
// +kubebuilder:printcolumn:name="Objects",type=integer,JSONPath=".status.objects"
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=".status.size"
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=".status.conditions[?(@.type==\"IntegrityVerified\")].status"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].reason",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type EvidenceVault struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the evidence store.
	// +required
	Spec EvidenceVaultSpec `json:"spec,omitzero"`

	// status is written by the operator.
	// +optional
	Status EvidenceVaultStatus `json:"status,omitempty"`
}

// EvidenceVaultList is a list of EvidenceVaults.
// +kubebuilder:object:root=true
type EvidenceVaultList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the EvidenceVaults.
	Items []EvidenceVault `json:"items"`
}

func init() {
	SchemeBuilder.Register(&EvidenceVault{}, &EvidenceVaultList{})
}
