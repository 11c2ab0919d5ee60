package ca

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// ConsumerLabels are the labels a workload that trusts the CA carries on its own
// metadata (not the pod template), so the key replacement finds it.
func ConsumerLabels(ref Ref) map[string]string {
	return map[string]string{TrustsCALabel: ref.SecretName}
}

// ConsumerAnnotations are the annotations of a consumer workload's own metadata:
// the leaf Secret its pods serve, if any.
func ConsumerAnnotations(servedLeafSecret string) map[string]string {
	if servedLeafSecret == "" {
		return nil
	}
	return map[string]string{ServesCertificateAnnotation: servedLeafSecret}
}

// ConsumerTemplateAnnotations are the certificate annotations a consumer's pod
// template carries for st: the trust bundle's hash, so pods roll when the bundle
// changes (a CA renewal or a key replacement phase), and while a key replacement
// waits for the consumers to load the leaves re-issued from the new CA
// (LeavesReissued), the fingerprint of the leaf the pods serve, so rolling that
// template out proves no pod still presents a leaf signed by the old CA. An
// ordinary leaf renewal, which the pods pick up without a restart, never rolls
// them. Nil when the bundle could not be read: the template is then left as it is.
func ConsumerTemplateAnnotations(bundleHash string, phase pki.RotationPhase, served *x509.Certificate) map[string]string {
	if bundleHash == "" {
		return nil
	}
	ann := map[string]string{TrustBundleHashAnnotation: bundleHash}
	if fp := TemplateServingCertificate(phase, served); fp != "" {
		ann[ServingCertificateAnnotation] = fp
	}
	return ann
}

// TemplateServingCertificate is the serving certificate fingerprint a consumer's pod
// template carries in phase: the served leaf's during LeavesReissued, empty in every
// other phase.
func TemplateServingCertificate(phase pki.RotationPhase, served *x509.Certificate) string {
	if phase != pki.RotationLeavesReissued {
		return ""
	}
	return Fingerprint(served)
}

// PlannedRollout says why the operator itself changes a consumer's pod template
// certificate annotations (desired against live), so the update is reported as
// planned, not as drift; empty when it does not. workload names the pods in the
// message, e.g. "gateway".
func PlannedRollout(desired, live map[string]string, workload string) string {
	bundle := desired[TrustBundleHashAnnotation]
	if bundle == "" {
		return ""
	}
	var why []string
	if bundle != live[TrustBundleHashAnnotation] {
		why = append(why, fmt.Sprintf("the trust bundle changed, so the %s pods are rolled to load it", workload))
	}
	if serving := desired[ServingCertificateAnnotation]; serving != live[ServingCertificateAnnotation] {
		if serving != "" {
			why = append(why, fmt.Sprintf("the serving certificate was re-issued from the new CA, so the %s pods are rolled to load it before the old CA is pruned", workload))
		} else if len(why) == 0 {
			why = append(why, fmt.Sprintf("the CA key replacement no longer waits for the %s to load its serving certificate", workload))
		}
	}
	return strings.Join(why, "; ")
}

// TemplateCertificatesInSync reports whether a consumer's live pod template
// annotations carry the certificate annotations desired: the serving certificate
// fingerprint is compared exactly (so it is removed when a key replacement ends)
// whenever the certificate state is known (desired names a trust bundle).
func TemplateCertificatesInSync(desired, live map[string]string) bool {
	return desired[TrustBundleHashAnnotation] == "" || desired[ServingCertificateAnnotation] == live[ServingCertificateAnnotation]
}
