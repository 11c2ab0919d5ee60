package v1alpha1

// Annotations people set on a resource to ask the operator for certificate work.
// Each acts once per new value, so a runbook can use a date or a ticket number.
const (
	// ForceRenewAnnotation re-issues every leaf certificate of the resource once each
	// time its value changes, e.g. cybercoop.io/force-renew=2026-11-20.
	ForceRenewAnnotation = "cybercoop.io/force-renew"
	// ForceReplaceCAAnnotation, on a FocalPoint, replaces its national CA's key through
	// the phased rollout once each time its value changes. It is also how a person
	// approves a new CA after the old key was lost (CertificateReady reason CAKeyLost).
	ForceReplaceCAAnnotation = "cybercoop.io/force-replace-ca"
	// VerifyNowAnnotation, on an EvidenceVault, starts a full verification of the
	// vault now, whatever spec.verification.interval says. Its value is the time of
	// the request (RFC 3339): a verification that finished after it answers it, and
	// status.lastVerification shows its result. A time in the future is ignored.
	VerifyNowAnnotation = "cybercoop.io/verify-now"
)
