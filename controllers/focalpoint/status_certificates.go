package focalpoint

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

const (
	roleCA             = metrics.RoleCA
	roleGatewayServing = metrics.RoleGatewayServing

	// expiryWarningWindow: a certificate in use that is past its renewal time and
	// expires within this window gets CertificateExpiringSoon instead of
	// CertificateRenewalOverdue.
	expiryWarningWindow = 7 * 24 * time.Hour
)

// observedCertificate is one certificate in use, as the status and the expiry checks
// see it.
type observedCertificate struct {
	role        string
	secretName  string
	cert        *x509.Certificate
	renewBefore time.Duration
	generation  int64
}

// certificateReport is what the certificate sub-reconciler found and did; the pure
// functions below turn it into status, a condition, warnings and a requeue time.
type certificateReport struct {
	// caLost explains why the CA cannot be used and what a person must do; empty
	// when the CA is usable.
	caLost string
	// err is the error the certificate sub-reconciler returned.
	err             error
	rotationMessage string

	ca        *observedCertificate
	leaves    []observedCertificate
	bundle    *cybercoopv1alpha1.TrustBundleStatus
	phase     pki.RotationPhase
	startedAt *time.Time
	// repairs name each Secret found tampered with and repaired since its last regular renewal.
	repairs []string
	// observed is false when the Secrets could not even be read; status and metrics
	// then keep what they last showed.
	observed bool

	// issuer describes the cert-manager issuer of spec.certificates.issuerRef; empty
	// when the operator's own CA issues.
	issuer string
	// blockedReason and blockedMessage say why the certificates are not ready although
	// nothing failed (cert-manager missing, issuance pending, no CA to publish).
	blockedReason, blockedMessage string
}

// block records why the certificates are not ready although nothing failed.
func (rep *certificateReport) block(reason, format string, args ...any) {
	rep.blockedReason, rep.blockedMessage = reason, fmt.Sprintf(format, args...)
}

// observe records the state at the end of the certificate sub-reconciler.
func (rep *certificateReport) observe(fp *cybercoopv1alpha1.FocalPoint, st *pkiState) {
	rep.observed = true
	rep.phase, rep.startedAt = st.phase(), st.startedAt()
	rep.ca, rep.leaves, rep.bundle, rep.repairs = nil, nil, nil, nil
	if st.activeCert != nil && rep.issuer == "" {
		rep.ca = &observedCertificate{role: roleCA, secretName: CASecretName(fp), cert: st.activeCert,
			renewBefore: caSpec(fp).EffectiveRenewBefore(), generation: st.generation()}
	}
	repaired := func(name string, sec *corev1.Secret) {
		if sec != nil && sec.Annotations[certs.RepairedAnnotation] != "" {
			rep.repairs = append(rep.repairs, fmt.Sprintf("Secret %s: %s", name, sec.Annotations[certs.RepairedAnnotation]))
		}
	}
	repaired(CASecretName(fp), st.caLive)
	if st.bundleLive != nil {
		data := st.bundleLive.Data[pki.CACertKey]
		count := int32(0)
		if b, err := pki.ParseTrustBundle(data); err == nil {
			count = int32(b.Len())
		}
		rep.bundle = &cybercoopv1alpha1.TrustBundleStatus{SecretName: st.bundleLive.Name, CACount: count, SHA256: bundleHash(data)}
		repaired(st.bundleLive.Name, st.bundleLive)
	}
	leaf := gatewayLeaf(fp)
	if res, ok := st.leaves[leaf.SecretName]; ok && res.Certificate != nil {
		rep.leaves = append(rep.leaves, observedCertificate{role: leaf.Role, secretName: leaf.SecretName, cert: res.Certificate,
			renewBefore: leaf.Spec.RenewBefore, generation: res.Generation})
		repaired(leaf.SecretName, res.Secret)
	} else if ob, ok := st.leafLive[leaf.SecretName]; ok {
		rep.leaves = append(rep.leaves, observedCertificate{role: leaf.Role, secretName: leaf.SecretName, cert: ob.cert,
			renewBefore: leaf.Spec.RenewBefore, generation: ob.generation})
	}
	sort.Strings(rep.repairs)
}

func certificateStatus(o *observedCertificate) *cybercoopv1alpha1.CertificateStatus {
	if o == nil {
		return nil
	}
	f := pki.FactsOf(o.cert, o.renewBefore)
	return &cybercoopv1alpha1.CertificateStatus{
		SecretName:        o.secretName,
		NotBefore:         metav1.NewTime(f.NotBefore),
		NotAfter:          metav1.NewTime(f.NotAfter),
		RenewalTime:       metav1.NewTime(f.RenewalTime),
		SerialNumber:      f.SerialNumber,
		SHA256Fingerprint: f.SHA256Fingerprint,
		CAGeneration:      o.generation,
	}
}

// certificatesStatus is status.certificates for the report.
func certificatesStatus(rep *certificateReport) *cybercoopv1alpha1.CertificatesStatus {
	out := &cybercoopv1alpha1.CertificatesStatus{CA: certificateStatus(rep.ca), TrustBundle: rep.bundle}
	for i := range rep.leaves {
		if rep.leaves[i].role == roleGatewayServing {
			out.GatewayServing = certificateStatus(&rep.leaves[i])
		}
	}
	if rep.issuer != "" {
		return out // no CA of the operator's, so no key replacement to report
	}
	phase := rep.phase
	if phase == "" {
		phase = pki.RotationIdle
	}
	out.Rotation = &cybercoopv1alpha1.CARotationStatus{Phase: cybercoopv1alpha1.CARotationPhase(phase)}
	if phase != pki.RotationIdle {
		if rep.startedAt != nil {
			t := metav1.NewTime(*rep.startedAt)
			out.Rotation.StartedAt = &t
		}
		out.Rotation.Message = rep.rotationMessage
	}
	return out
}

func (rep *certificateReport) inUse() []observedCertificate {
	var out []observedCertificate
	if rep.ca != nil {
		out = append(out, *rep.ca)
	}
	return append(out, rep.leaves...)
}

// certificateReadyCondition summarises the report at now.
func certificateReadyCondition(rep *certificateReport, now time.Time) metav1.Condition {
	cond := metav1.Condition{Type: cybercoopv1alpha1.ConditionCertificateReady}
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		cond.Status, cond.Reason, cond.Message = status, reason, fmt.Sprintf(format, args...)
		return cond
	}
	if rep.caLost != "" {
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonCAKeyLost, "%s", rep.caLost)
	}
	if rep.err != nil {
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateIssuanceFailed, "%v", rep.err)
	}
	if rep.blockedReason != "" {
		return set(metav1.ConditionFalse, rep.blockedReason, "%s", rep.blockedMessage)
	}
	switch {
	case rep.issuer != "" && len(rep.leaves) == 0:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "cert-manager (%s) has not issued the gateway's serving certificate yet", rep.issuer)
	case rep.issuer == "" && (rep.ca == nil || len(rep.leaves) == 0):
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the CA and the gateway's serving certificate have not been issued yet")
	}
	var valid []string
	for _, o := range rep.inUse() {
		f := pki.FactsOf(o.cert, o.renewBefore)
		if !now.Before(f.NotAfter) || now.Before(f.NotBefore) {
			return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateExpired,
				"the %s certificate in Secret %s is valid only from %s to %s", o.role, o.secretName, rfc3339(f.NotBefore), rfc3339(f.NotAfter))
		}
		issuedBy := fmt.Sprintf("CA generation %d", o.generation)
		if rep.issuer != "" {
			issuedBy = "issued by cert-manager " + rep.issuer
		}
		valid = append(valid, fmt.Sprintf("%s (Secret %s, %s) valid until %s, renewal at %s",
			o.role, o.secretName, issuedBy, rfc3339(f.NotAfter), rfc3339(f.RenewalTime)))
	}
	if rep.phase != "" && rep.phase != pki.RotationIdle {
		since := ""
		if rep.startedAt != nil {
			since = " started " + rfc3339(*rep.startedAt)
		}
		return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonCARotationInProgress, "CA key replacement%s, phase %s: %s",
			since, rep.phase, rep.rotationMessage)
	}
	if len(rep.repairs) > 0 {
		return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificateRepaired, "repaired, the certificates are valid again: %s",
			strings.Join(rep.repairs, "; "))
	}
	return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificatesValid, "%s", strings.Join(valid, "; "))
}

// expiryWarning is a Warning event about a certificate in use that should already have
// been renewed.
type expiryWarning struct {
	reason  string
	message string
}

// expiryWarnings lists the certificates in use that are past their renewal time: the
// renewal is failing or blocked (a lost CA key, a stuck rollout). A CA whose key is
// being replaced is expected to be past its renewal time until the rollout ends, so
// it is only reported within the last expiryWarningWindow.
func expiryWarnings(rep *certificateReport, now time.Time) []expiryWarning {
	var out []expiryWarning
	rotating := rep.phase != "" && rep.phase != pki.RotationIdle
	for _, o := range rep.inUse() {
		f := pki.FactsOf(o.cert, o.renewBefore)
		left := f.NotAfter.Sub(now)
		switch {
		case now.Before(f.RenewalTime):
			continue
		case left <= 0:
			out = append(out, expiryWarning{cybercoopv1alpha1.EventCertificateExpiringSoon,
				fmt.Sprintf("the %s certificate in Secret %s EXPIRED at %s and was not renewed", o.role, o.secretName, rfc3339(f.NotAfter))})
		case left < expiryWarningWindow:
			out = append(out, expiryWarning{cybercoopv1alpha1.EventCertificateExpiringSoon,
				fmt.Sprintf("the %s certificate in Secret %s expires at %s (in %s) and renewal, due at %s, has not succeeded",
					o.role, o.secretName, rfc3339(f.NotAfter), left.Round(time.Minute), rfc3339(f.RenewalTime))})
		case o.role == roleCA && rotating:
			continue
		default:
			out = append(out, expiryWarning{cybercoopv1alpha1.EventCertificateRenewalOverdue,
				fmt.Sprintf("the %s certificate in Secret %s was due for renewal at %s and has not been renewed; it expires at %s",
					o.role, o.secretName, rfc3339(f.RenewalTime), rfc3339(f.NotAfter))})
		}
	}
	return out
}

// nextCertificateCheck is when a certificate in use next needs attention: its renewal
// time, or, when that has passed without a renewal, the start of the warning window,
// or its expiry. Zero when there is nothing ahead.
func nextCertificateCheck(rep *certificateReport, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) bool {
		if !t.After(now) {
			return false
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
		return true
	}
	for _, o := range rep.inUse() {
		f := pki.FactsOf(o.cert, o.renewBefore)
		_ = consider(f.RenewalTime) || consider(f.NotAfter.Add(-expiryWarningWindow)) || consider(f.NotAfter)
	}
	return next
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
