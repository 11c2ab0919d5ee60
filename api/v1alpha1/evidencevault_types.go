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

// VaultStorage is where the evidence is kept: a volume (the default), or an S3 bucket
// with Object Lock in COMPLIANCE mode.
// +kubebuilder:validation:XValidation:rule="quantity(string(self.size)).compareTo(quantity(string(oldSelf.size))) >= 0",message="storage.size may grow but never shrink: a smaller volume could not hold the preserved evidence"
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage.storageClassName is immutable: the evidence already lives on a volume of that class"
// +kubebuilder:validation:XValidation:rule="has(self.s3) == has(oldSelf.s3)",message="storage.s3 can be set only when the EvidenceVault is created: evidence already kept on a volume (or in a bucket) stays there"
// +kubebuilder:validation:XValidation:rule="!has(self.s3) || !has(self.storageClassName)",message="storage.storageClassName does not apply with storage.s3: the vault then has no volume of its own, only a scratch emptyDir of storage.size"
type VaultStorage struct {
	// size is the volume's capacity, e.g. 50Gi. It may grow (the volume is expanded if
	// its storage class allows it) but never shrink. With s3 it is the size limit of
	// the vault's scratch space (an emptyDir holding objects while they are uploaded
	// and a working copy of the custody log): at least the largest object ingested at
	// once, times --max-ingests.
	// +required
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('1Gi')) >= 0",message="storage.size must be at least 1Gi"
	Size resource.Quantity `json:"size"`

	// storageClassName is the StorageClass of the volume. Default: the cluster's
	// default class. Immutable. Not with s3.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	StorageClassName string `json:"storageClassName,omitempty"`

	// s3 keeps the evidence in an S3 bucket with Object Lock in COMPLIANCE mode
	// instead of on a volume: every object and custody log segment is written with its
	// own retain-until date, which nobody, the bucket's owner included, can shorten
	// through the S3 API. The bucket must have Object Lock enabled; the vault checks it
	// at every start and refuses to serve otherwise (StorageBound says why). Set only
	// at creation; bucket, endpoint and prefix are immutable.
	// +optional
	S3 *VaultS3Storage `json:"s3,omitempty"`
}

// S3Addressing says how requests name the bucket.
// +kubebuilder:validation:Enum=VirtualHosted;Path
type S3Addressing string

const (
	// S3AddressingVirtualHosted names the bucket in the host: <bucket>.<endpoint> (AWS).
	S3AddressingVirtualHosted S3Addressing = "VirtualHosted"
	// S3AddressingPath names the bucket in the path: <endpoint>/<bucket> (most
	// self-hosted stores: Ceph RGW, MinIO, Versity).
	S3AddressingPath S3Addressing = "Path"
)

// VaultS3Storage is an S3 bucket with Object Lock that keeps a vault's evidence.
// +kubebuilder:validation:XValidation:rule="self.bucket == oldSelf.bucket",message="storage.s3.bucket is immutable: the evidence and its custody log are in that bucket"
// +kubebuilder:validation:XValidation:rule="has(self.endpoint) == has(oldSelf.endpoint) && (!has(self.endpoint) || self.endpoint == oldSelf.endpoint)",message="storage.s3.endpoint is immutable: the evidence is in that store"
// +kubebuilder:validation:XValidation:rule="has(self.prefix) == has(oldSelf.prefix) && (!has(self.prefix) || self.prefix == oldSelf.prefix)",message="storage.s3.prefix is immutable: the evidence is under that prefix"
type VaultS3Storage struct {
	// endpoint is the store's URL, e.g. https://rgw.ceph.example.org or
	// https://s3.eu-west-1.amazonaws.com. Default: AWS's endpoint for region.
	// +optional
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="storage.s3.endpoint must be an http:// or https:// URL (https unless the store is reached over a trusted network)"
	// +kubebuilder:validation:XValidation:rule="!self.contains('@')",message="storage.s3.endpoint must not carry credentials (user:password@): the vault's credentials come from the Secret named by credentialsSecretRef"
	Endpoint string `json:"endpoint,omitempty"`

	// bucket is the bucket's name. It must have been created with Object Lock enabled
	// (which turns versioning on); the vault never creates or configures it.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9][a-z0-9.-]*[a-z0-9]$')",message="storage.s3.bucket must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
	Bucket string `json:"bucket,omitempty"`

	// region signs the requests. Default us-east-1 (self-hosted stores accept any).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9-]+$')",message="storage.s3.region must be lowercase letters, digits and hyphens, e.g. eu-west-1"
	Region string `json:"region,omitempty"`

	// prefix is prepended to every key the vault writes, so that vaults can share a
	// bucket, e.g. "vault-kenya/". Default: the bucket's root. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.endsWith('/') && !self.startsWith('/')",message="storage.s3.prefix must end with '/' and must not start with one, e.g. vault-kenya/"
	Prefix string `json:"prefix,omitempty"`

	// addressing says how requests name the bucket: VirtualHosted (the default, as
	// AWS) or Path (most self-hosted stores).
	// +optional
	// +default="VirtualHosted"
	Addressing S3Addressing `json:"addressing,omitempty"`

	// credentialsSecretRef names a Secret in the EvidenceVault's namespace holding the
	// vault's access key under AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the keys
	// Rook's ObjectBucketClaim Secrets have). Give those credentials no permission
	// to change the bucket's Object Lock configuration or policy.
	// +required
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef,omitzero"`

	// caBundleRef names a ConfigMap key in the EvidenceVault's namespace holding the
	// PEM bundle that verifies the endpoint's certificate. Default: the system's roots.
	// +optional
	CABundleRef *ConfigMapKeyReference `json:"caBundleRef,omitempty"`

	// custodyRetentionDays is how long each custody log segment is kept under
	// COMPLIANCE retention from when it is written, in days. Default 3650 (ten
	// years); a segment recording an ingest is also kept as long as its object.
	// +optional
	// +default=3650
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=36500
	CustodyRetentionDays int32 `json:"custodyRetentionDays,omitempty"`
}

// SecretReference names a Secret in the same namespace.
type SecretReference struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
}

// ConfigMapKeyReference names one key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// name is the ConfigMap's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// key is the key holding the PEM bundle. Default ca.crt.
	// +optional
	// +default="ca.crt"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
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

// StorageBackend is where a vault keeps evidence.
// +kubebuilder:validation:Enum=Filesystem;S3
type StorageBackend string

const (
	// StorageBackendFilesystem keeps evidence on the vault's volume.
	StorageBackendFilesystem StorageBackend = "Filesystem"
	// StorageBackendS3 keeps evidence in an S3 bucket with Object Lock.
	StorageBackendS3 StorageBackend = "S3"
)

// StorageLockMode is the lock the store itself enforces on evidence.
// +kubebuilder:validation:Enum=None;Compliance
type StorageLockMode string

const (
	// StorageLockNone: only the vault enforces retention (a volume).
	StorageLockNone StorageLockMode = "None"
	// StorageLockCompliance: the store refuses to delete an object, or shorten its
	// retention, before its retain-until date, whoever asks (S3 Object Lock in
	// COMPLIANCE mode, checked by the vault at start).
	StorageLockCompliance StorageLockMode = "Compliance"
)

// VaultStorageStatus reports where the evidence is kept.
type VaultStorageStatus struct {
	// backend is Filesystem or S3.
	// +required
	Backend StorageBackend `json:"backend,omitempty"`
	// bucket is the S3 bucket (S3 only).
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket,omitempty"`
	// lockMode is the lock the store itself enforces: Compliance when the vault
	// checked at start that the bucket refuses early deletion, None otherwise.
	// +required
	LockMode StorageLockMode `json:"lockMode,omitempty"`
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

	// storage says where the evidence is kept and what lock the store itself
	// enforces, as the vault last reported.
	// +optional
	Storage *VaultStorageStatus `json:"storage,omitempty"`

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
