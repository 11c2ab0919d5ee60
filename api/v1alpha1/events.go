package v1alpha1

// Event reasons. Normal events record what the operator did; Warning events need
// attention. They are the same for every kind.

// Child objects.
const (
	// EventCreated (Normal): a child object was created.
	EventCreated = "Created"
	// EventUpdated (Normal): a child object was updated to a new spec, or by a change
	// the operator planned (the message says why).
	EventUpdated = "Updated"
	// EventDeleted (Normal): a child object that is no longer needed was deleted.
	EventDeleted = "Deleted"
	// EventDriftRepaired (Warning): a child object differed from what the spec asks
	// (edited or deleted by someone) and was restored.
	EventDriftRepaired = "DriftRepaired"
	// EventProvisioningFailed (Warning): a child object could not be applied.
	EventProvisioningFailed = "ProvisioningFailed"
	// EventChannelsWaitingForRollout (Normal): a FocalPoint's channels take more
	// than one Secret for the first time, and the gateway's channels file waits until
	// its pods mount them all (one rollout); until then no channel change reaches
	// the gateway. Repeated for long, the rollout is stuck.
	EventChannelsWaitingForRollout = "ChannelsWaitingForRollout"
)

// Certificates.
const (
	// EventCAIssued (Normal): a national CA was created.
	EventCAIssued = "CAIssued"
	// EventCARenewed (Normal): the CA certificate was re-signed with the same key.
	EventCARenewed = "CARenewed"
	// EventCARetained (Warning): the FocalPoint was deleted with caDeletionPolicy Retain;
	// the message names the CA and trust bundle Secrets kept for a FocalPoint of the
	// same name to adopt.
	EventCARetained = "CARetained"
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

// Evidence vaults.
const (
	// EventKeyRotated (Normal): a new encryption key version became active.
	EventKeyRotated = "KeyRotated"
	// EventKeyRetired (Normal): a key version no object uses any more was removed.
	EventKeyRetired = "KeyRetired"
	// EventKeyVersionMissing (Warning): a key version in use is missing from the
	// keyring Secret; see ReasonKeyVersionMissing.
	EventKeyVersionMissing = "KeyVersionMissing"
	// EventLogInconsistent (Warning): the custody log is not consistent with the
	// recorded checkpoint; see ReasonLogInconsistent.
	EventLogInconsistent = "LogInconsistent"
	// EventVerificationFailed (Warning): a full verification found problems.
	EventVerificationFailed = "VerificationFailed"
	// EventEvidenceRetained (Warning): the EvidenceVault was deleted with deletionPolicy
	// Retain; the message names the volume claim, keyring and key Secrets kept.
	EventEvidenceRetained = "EvidenceRetained"
	// EventDeletionBlocked (Warning): deletion with deletionPolicy Delete waits for
	// holds to be released and retention to end.
	EventDeletionBlocked = "DeletionBlocked"
)

// Events of CooperationChannel.
const (
	// EventPeerCATrusted: a CA from the peer's signed trust bundle, verified against a CA
	// the channel already trusted, is now trusted too.
	EventPeerCATrusted = "PeerCATrusted"
	// EventPeerTrustExpiring (Warning): every usable CA of the peer expires within 30 days.
	EventPeerTrustExpiring = "PeerTrustExpiring"
	// EventPeerUnreachable (Warning): the probe of the peer failed after succeeding.
	EventPeerUnreachable = "PeerUnreachable"
	// EventPeerReachable: the probe of the peer succeeded after failing.
	EventPeerReachable = "PeerReachable"
	// EventRequestsOverdue (Warning): more of the peer's requests are past their
	// deadline than the channel's status said (their ids, no content).
	EventRequestsOverdue = "RequestsOverdue"
)

// Events of ConventionProfile.
const (
	// EventControlFailed (Warning): a compliance control's result became Fail; the
	// message names the control, its article and what was found.
	EventControlFailed = "ControlFailed"
	// EventControlPassed (Normal): a compliance control's result became Pass after it
	// was Fail or Unknown.
	EventControlPassed = "ControlPassed"
)
