package v1alpha1

// Condition types. Every condition has positive polarity: True is the healthy state.
const (
	// ConditionReady summarises the resource: True when every other condition is True.
	ConditionReady = "Ready"
	// ConditionAvailable is True when at least one gateway pod is available and the
	// Deployment has rolled out the current spec.
	ConditionAvailable = "Available"
	// ConditionCertificateReady is True when the national CA, the trust bundle and every
	// certificate issued from the CA are valid and their renewal is scheduled. It stays
	// True during a CA key replacement (reason CARotationInProgress), because the rollout
	// never serves a certificate a consumer does not trust. With spec.certificates.issuerRef
	// it is True when cert-manager reports the Certificates Ready and their Secrets hold
	// valid certificates and a CA for the trust bundle.
	ConditionCertificateReady = "CertificateReady"
	// ConditionCoverageComplete is True when the roster has someone on call for every
	// minute of the current week in the roster's time zone.
	ConditionCoverageComplete = "CoverageComplete"
)

// Condition reasons. Each is a CamelCase word a person can search for in the docs.
const (
	// ReasonReconciling: the operator has not yet observed this generation's outcome.
	ReasonReconciling = "Reconciling"
	// ReasonProvisioned: every child resource matches the spec.
	ReasonProvisioned = "Provisioned"
	// ReasonProvisioningFailed: a child resource could not be created or updated.
	ReasonProvisioningFailed = "ProvisioningFailed"
	// ReasonDeploymentAvailable: the gateway Deployment reports Available with the current spec.
	ReasonDeploymentAvailable = "DeploymentAvailable"
	// ReasonDeploymentUnavailable: no gateway pod is available.
	ReasonDeploymentUnavailable = "DeploymentUnavailable"
	// ReasonDeploymentProgressing: the Deployment has not yet rolled out the current spec.
	ReasonDeploymentProgressing = "DeploymentProgressing"
	// ReasonFullCoverage: the roster covers every minute of the week.
	ReasonFullCoverage = "FullCoverage"
	// ReasonCoverageGaps: the roster leaves periods with nobody on call.
	ReasonCoverageGaps = "CoverageGaps"
	// ReasonInvalidTimeZone: the roster's time zone is not in the time zone database.
	ReasonInvalidTimeZone = "InvalidTimeZone"
	// ReasonNotReady: at least one other condition is not True; the message names them.
	ReasonNotReady = "NotReady"
	// ReasonAllConditionsMet: every other condition is True.
	ReasonAllConditionsMet = "AllConditionsMet"

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
	// FocalPoint needs, or reports its Certificate not Ready; the message carries
	// cert-manager's own reason and message.
	ReasonCertificateIssuerPending = "CertificateIssuerPending"
	// ReasonIssuerCACertificateMissing: the Secret cert-manager issued has no usable
	// ca.crt (some issuers, such as ACME, do not publish their CA), so the trust bundle
	// cannot be built and consumers cannot verify the gateway. Use an issuer that fills
	// ca.crt (CA, Vault, Venafi with a chain), or create a new FocalPoint with the
	// operator's own CA.
	ReasonIssuerCACertificateMissing = "IssuerCACertificateMissing"
)

// Event reasons for certificates. Normal events record the lifecycle; Warning events
// need attention.
const (
	// EventCAIssued (Normal): a national CA was created.
	EventCAIssued = "CAIssued"
	// EventCARenewed (Normal): the CA certificate was re-signed with the same key.
	EventCARenewed = "CARenewed"
	// EventCARotation (Normal): a CA key replacement advanced to a new phase.
	EventCARotation = "CARotation"
	// EventCAKeyLost (Warning): the CA key pair is unusable; see ReasonCAKeyLost.
	EventCAKeyLost = "CAKeyLost"
	// EventCertificateIssued (Normal): a leaf certificate was issued for the first time.
	EventCertificateIssued = "CertificateIssued"
	// EventCertificateRenewed (Normal): a leaf certificate was re-issued (renewal due,
	// force-renew, spec change, or re-issue from a new CA key).
	EventCertificateRenewed = "CertificateRenewed"
	// EventCertificateRepaired (Warning): a tampered certificate Secret was repaired.
	EventCertificateRepaired = "CertificateRepaired"
	// EventTrustBundleRepaired (Warning): the trust bundle Secret was edited or damaged
	// and was published again.
	EventTrustBundleRepaired = "TrustBundleRepaired"
	// EventCertificateRenewalFailed (Warning): issuing or storing a certificate failed.
	EventCertificateRenewalFailed = "CertificateRenewalFailed"
	// EventCertificateExpiringSoon (Warning): a certificate in use is past its renewal time
	// and expires within seven days.
	EventCertificateExpiringSoon = "CertificateExpiringSoon"
	// EventCertificateRenewalOverdue (Warning): a certificate in use is past its renewal
	// time and has not been renewed.
	EventCertificateRenewalOverdue = "CertificateRenewalOverdue"
)
