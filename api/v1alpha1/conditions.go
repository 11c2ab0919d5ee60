package v1alpha1

// Conditions and their reasons, grouped by condition: first those every kind
// reports, then the certificate condition every kind holding certificates
// reports, then those of one kind. Every condition has positive polarity: True is
// the healthy state. Each reason is a CamelCase word a person can search for here.

// Reported by every kind.
const (
	// ConditionReady summarises the resource: True when every other condition is True.
	ConditionReady = "Ready"

	// ReasonAllConditionsMet (Ready=True): every other condition is True.
	ReasonAllConditionsMet = "AllConditionsMet"
	// ReasonNotReady (Ready=False): at least one other condition is not True; the
	// message names them.
	ReasonNotReady = "NotReady"
	// ReasonReconciling (any condition, Unknown): the operator has not yet observed this
	// generation's outcome.
	ReasonReconciling = "Reconciling"
	// ReasonProvisioningFailed (Ready=False): a child resource could not be created or
	// updated; the message says which and why. The operator retries with backoff.
	ReasonProvisioningFailed = "ProvisioningFailed"
	// ReasonProvisioned: every child resource matches the spec.
	ReasonProvisioned = "Provisioned"
)

// Reported by every kind that holds certificates from a national CA.
const (
	// ConditionCertificateReady is True when the national CA, the trust bundle and every
	// certificate issued from the CA are valid and their renewal is scheduled. It stays
	// True during a CA key replacement (reason CARotationInProgress), because the rollout
	// never serves a certificate a consumer does not trust. With spec.certificates.issuerRef
	// it is True when cert-manager reports the Certificates Ready and their Secrets hold
	// valid certificates and a CA for the trust bundle.
	ConditionCertificateReady = "CertificateReady"

	// ReasonCertificatesValid: the CA and every issued certificate are valid; the message
	// gives their expiry and renewal times.
	ReasonCertificatesValid = "CertificatesValid"
	// ReasonCertificateRepaired: a certificate Secret was found tampered with (another CA's
	// certificate, a mismatched key, truncated PEM) and was repaired; the certificates are
	// valid again. The message names the Secret and what was wrong. It clears at the next
	// regular renewal of that certificate.
	ReasonCertificateRepaired = "CertificateRepaired"
	// ReasonCARotationInProgress: a CA key replacement is under way; the message names the
	// phase and what it waits for. Every served certificate is trusted by every consumer.
	ReasonCARotationInProgress = "CARotationInProgress"
	// ReasonCAKeyLost: a CA exists but its key pair cannot be used (key deleted, garbled or
	// not matching the certificate). The operator does not create a new CA on its own,
	// because that would break trust with every peer: restore the CA Secret from a backup,
	// or approve a new CA key with the annotation cybercoop.io/force-replace-ca=<token>.
	ReasonCAKeyLost = "CAKeyLost"
	// ReasonCertificateIssuanceFailed: a certificate could not be issued, renewed or stored;
	// the message says which and why. The operator retries with backoff.
	ReasonCertificateIssuanceFailed = "CertificateIssuanceFailed"
	// ReasonCertificateExpired: a certificate in use has expired.
	ReasonCertificateExpired = "CertificateExpired"
	// ReasonCertManagerNotInstalled: spec.certificates.issuerRef hands issuance to
	// cert-manager, but cert-manager's Certificate CRD (certificates.cert-manager.io/v1)
	// was not found when the operator started. Install cert-manager, then restart the
	// operator.
	ReasonCertManagerNotInstalled = "CertManagerNotInstalled"
	// ReasonCertificateIssuerPending: cert-manager has not (yet) issued a certificate the
	// resource needs, or reports its Certificate not Ready; the message carries
	// cert-manager's own reason and message.
	ReasonCertificateIssuerPending = "CertificateIssuerPending"
	// ReasonIssuerCACertificateMissing: the Secret cert-manager issued has no usable
	// ca.crt (some issuers, such as ACME, do not publish their CA), so the trust bundle
	// cannot be built and consumers cannot verify the service. Use an issuer that fills
	// ca.crt (CA, Vault, Venafi with a chain), or create a new FocalPoint with the
	// operator's own CA.
	ReasonIssuerCACertificateMissing = "IssuerCACertificateMissing"
)

// Reported by FocalPoint.
const (
	// ConditionAvailable is True when at least one gateway pod is available and the
	// Deployment has rolled out the current spec.
	ConditionAvailable = "Available"

	// ReasonDeploymentAvailable (Available=True): the gateway Deployment reports
	// Available with the current spec.
	ReasonDeploymentAvailable = "DeploymentAvailable"
	// ReasonDeploymentProgressing (Available=True): pods are available but the
	// Deployment has not yet rolled out the current spec.
	ReasonDeploymentProgressing = "DeploymentProgressing"
	// ReasonDeploymentUnavailable (Available=False): no gateway pod is available.
	ReasonDeploymentUnavailable = "DeploymentUnavailable"

	// ConditionCoverageComplete is True when the roster has someone on call for every
	// minute of the current week in the roster's time zone.
	ConditionCoverageComplete = "CoverageComplete"

	// ReasonFullCoverage (CoverageComplete=True): the roster covers every minute of the week.
	ReasonFullCoverage = "FullCoverage"
	// ReasonCoverageGaps (CoverageComplete=False): the roster leaves periods with nobody on call.
	ReasonCoverageGaps = "CoverageGaps"
	// ReasonInvalidTimeZone (CoverageComplete=False): the roster's time zone is not in
	// the time zone database.
	ReasonInvalidTimeZone = "InvalidTimeZone"
)

// Reported by EvidenceVault.
const (
	// ConditionStorageBound is True when the vault's volume is bound and the vault
	// reports its store usable.
	ConditionStorageBound = "StorageBound"

	// ReasonVolumeBound (StorageBound=True): the volume claim is bound.
	ReasonVolumeBound = "VolumeBound"
	// ReasonVolumePending (StorageBound=False): the volume claim is not bound yet; the
	// message carries what the claim reports.
	ReasonVolumePending = "VolumePending"
	// ReasonBucketLocked (StorageBound=True, storage.s3): the vault checked at start that
	// the bucket has Object Lock and versioning enabled and refused to delete a probe
	// object under COMPLIANCE retention.
	ReasonBucketLocked = "BucketLocked"
	// ReasonBucketUnprotected (StorageBound=False, storage.s3): the vault refuses to
	// serve because the bucket does not protect evidence (Object Lock or versioning
	// off, a probe object could be deleted) or cannot be reached; the message is the
	// vault's reason.
	ReasonBucketUnprotected = "BucketUnprotected"
	// ReasonS3CredentialsMissing (StorageBound=False, storage.s3): the credentials
	// Secret is missing or lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY.
	ReasonS3CredentialsMissing = "S3CredentialsMissing"

	// ConditionKeysReady is True when the encryption keyring holds every key version
	// stored objects are sealed under, and a version to seal new ones.
	ConditionKeysReady = "KeysReady"

	// ReasonKeyringValid (KeysReady=True): every version is present; the message gives
	// the active one and the next rotation.
	ReasonKeyringValid = "KeyringValid"
	// ReasonKeyVersionMissing (KeysReady=False): a key version the operator created and
	// objects may be sealed under is missing from the keyring Secret. The operator
	// never generates a replacement (a new key cannot read what the old one sealed):
	// restore the Secret from a backup.
	ReasonKeyVersionMissing = "KeyVersionMissing"
	// ReasonCheckpointKeyLost (KeysReady=False): the Secret with the key that signs the
	// custody log's checkpoints is gone although checkpoints were signed with it. No
	// new key is made on its own (earlier checkpoints could no longer be checked
	// against it): restore the Secret from a backup.
	ReasonCheckpointKeyLost = "CheckpointKeyLost"
	// ReasonKeyringInvalid (KeysReady=False): a key in the keyring Secret is unusable
	// (not 32 bytes, not a version number); the message names the version, never the key.
	ReasonKeyringInvalid = "KeyringInvalid"

	// ConditionIntegrityVerified is True when the latest checkpoint of the custody log
	// is consistent with the one recorded before it and the last full verification
	// passed. Unknown while the vault cannot be reached.
	ConditionIntegrityVerified = "IntegrityVerified"

	// ReasonLogConsistent (IntegrityVerified=True): the custody log only grew since the
	// recorded checkpoint, and the last full verification passed.
	ReasonLogConsistent = "LogConsistent"
	// ReasonLogInconsistent (IntegrityVerified=False): the custody log shrank, forked
	// or was rewritten since the recorded checkpoint; the recorded checkpoint is kept.
	ReasonLogInconsistent = "LogInconsistent"
	// ReasonVerificationFailed (IntegrityVerified=False): the last full verification
	// found damaged objects or a broken chain; the message names the first findings.
	ReasonVerificationFailed = "VerificationFailed"
	// ReasonVaultUnreachable (Unknown): the operator could not reach the vault's API;
	// conditions that depend on it are Unknown, never a stale True.
	ReasonVaultUnreachable = "VaultUnreachable"

	// ReasonFocalPointNotFound (Ready=False): spec.focalPointRef names no FocalPoint in
	// the namespace, or its national CA is not issued yet.
	ReasonFocalPointNotFound = "FocalPointNotFound"
	// ReasonDeletionBlocked (Ready=False, while deleting with deletionPolicy Delete):
	// objects are under legal hold or inside their retention; the message says how
	// many and until when.
	ReasonDeletionBlocked = "DeletionBlocked"
)

// Reported by CooperationChannel (with Ready, CertificateReady and
// ReasonFocalPointNotFound above).
const (
	// ConditionPeerTrusted is True when the peer's trust bundle holds at least one CA
	// certificate that parses, is a CA and is valid now, and the gateway's configuration
	// carries it.
	ConditionPeerTrusted = "PeerTrusted"
	// ConditionPeerReachable is True when the last probe completed a mutual-TLS handshake
	// with the peer's gateway and fetched its signed trust bundle.
	ConditionPeerReachable = "PeerReachable"

	// ReasonTrustBundleValid (PeerTrusted=True): the message names the CAs trusted and
	// the earliest expiry.
	ReasonTrustBundleValid = "TrustBundleValid"
	// ReasonTrustBundleExpiring (PeerTrusted=True): every usable peer CA expires within 30
	// days; ask the peer for its next CA. A Warning event says the same.
	ReasonTrustBundleExpiring = "TrustBundleExpiring"
	// ReasonTrustBundleInvalid (PeerTrusted=False): the trust bundle is missing, does not
	// parse, holds no CA certificate, or every CA in it has expired; the message says
	// which.
	ReasonTrustBundleInvalid = "TrustBundleInvalid"
	// ReasonPeerHandshakeSucceeded (PeerReachable=True): the message gives the round-trip
	// time.
	ReasonPeerHandshakeSucceeded = "PeerHandshakeSucceeded"
	// ReasonPeerUnreachable (PeerReachable=False): the probe could not connect, the
	// handshake failed, or the peer's signed trust bundle did not verify; the message
	// says which and why.
	ReasonPeerUnreachable = "PeerUnreachable"
	// ReasonChannelSuspended (PeerReachable=Unknown, Ready=False): spec.suspend is set;
	// the peer is not probed and no request passes.
	ReasonChannelSuspended = "ChannelSuspended"
	// ReasonPeerIsSelf (Ready=False): spec.peer.country is the FocalPoint's own country.
	ReasonPeerIsSelf = "PeerIsSelf"
)

// Reported by ConventionProfile. Its Ready says the report is current, not that the
// State is compliant: a report that finds failures is still a correct report.
const (
	// ConditionCompliant is True when every control of the report passes, False when
	// one fails and Unknown when none fails but one cannot be decided.
	ConditionCompliant = "Compliant"

	// ReasonAllControlsPass (Compliant=True): every control passes.
	ReasonAllControlsPass = "AllControlsPass"
	// ReasonControlsFailing (Compliant=False): at least one control fails; the message
	// names them.
	ReasonControlsFailing = "ControlsFailing"
	// ReasonControlsUnknown (Compliant=Unknown): no control fails, but at least one
	// cannot be decided; the message names them.
	ReasonControlsUnknown = "ControlsUnknown"

	// ReasonReportComputed (Ready=True): the controls were computed from the
	// namespace's resources as they are now.
	ReasonReportComputed = "ReportComputed"
	// ReasonInputsUnreadable (Ready=False): a resource the report needs could not be
	// read; the message says which. The controls keep their last results.
	ReasonInputsUnreadable = "InputsUnreadable"
)

// Reported by JointInvestigation.
const (
	// ConditionActive is True before spec.endDate: the parties may fetch what is
	// shared. False (reason Ended) from then on.
	ConditionActive = "Active"
	// ConditionPartiesKnown is True when every party's CooperationChannel exists.
	ConditionPartiesKnown = "PartiesKnown"

	// ReasonBeforeEndDate (Active=True): the joint investigation runs until its end date.
	ReasonBeforeEndDate = "BeforeEndDate"
	// ReasonEnded (Active=False): the end date passed; nothing is shared any more.
	ReasonEnded = "Ended"
	// ReasonAllPartiesKnown (PartiesKnown=True): every party has a channel.
	ReasonAllPartiesKnown = "AllPartiesKnown"
	// ReasonPartyChannelMissing (PartiesKnown=False): a party's channel does not
	// exist; the message names it.
	ReasonPartyChannelMissing = "PartyChannelMissing"
	// ReasonPartyNotAState (PartiesKnown=False): a party's channel leads to a
	// service provider; the parties to a joint investigation are States.
	ReasonPartyNotAState = "PartyNotAState"
)
