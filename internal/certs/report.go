package certs

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// RoleCA is the role of a national CA certificate in reports, events and metrics.
const RoleCA = metrics.RoleCA

// expiryWarningWindow: a certificate in use that is past its renewal time and
// expires within this window gets CertificateExpiringSoon instead of
// CertificateRenewalOverdue.
const expiryWarningWindow = 7 * 24 * time.Hour

// Observed is one certificate in use, as status and the expiry checks see it.
type Observed struct {
	Role        string
	SecretName  string
	Certificate *x509.Certificate
	RenewBefore time.Duration
	Generation  int64
}

// Report is what a resource's certificate phase found and did. The pure functions
// below turn it into status, the CertificateReady condition, warnings and a requeue
// time, the same way for every kind.
type Report struct {
	// CALost explains why the CA cannot be used and what a person must do.
	CALost string
	// Err is the error the certificate phase returned.
	Err error
	// RotationMessage says what a CA key replacement did or waits for.
	RotationMessage string
	// WaitingForPeers names the peers a CA key replacement waits for.
	WaitingForPeers []string
	// OwnsCA: the resource owns the national CA, so a missing CA is "not issued yet".
	OwnsCA bool

	CA        *Observed
	Leaves    []Observed
	Bundle    *cybercoopv1alpha1.TrustBundleStatus
	Phase     pki.RotationPhase
	StartedAt *time.Time
	// Repairs name each Secret found tampered with and repaired since its last regular renewal.
	Repairs []string
	// Observed is false when the Secrets could not even be read; status and metrics
	// then keep what they last showed.
	Observed bool

	// Issuer describes the cert-manager issuer; empty when the operator's own CA issues.
	Issuer string
	// Awaiting names the resource's certificates in "not issued yet" messages, e.g.
	// "the gateway's serving certificate".
	Awaiting string
	// BlockedReason and BlockedMessage say why the certificates are not ready although
	// nothing failed (cert-manager missing, issuance pending, no CA to publish).
	BlockedReason, BlockedMessage string
}

// Block records why the certificates are not ready although nothing failed.
func (r *Report) Block(reason, format string, args ...any) {
	r.BlockedReason, r.BlockedMessage = reason, fmt.Sprintf(format, args...)
}

// AddRepair records that sec (named name) was found tampered with and repaired, if
// its RepairedAnnotation says so.
func (r *Report) AddRepair(name string, sec *corev1.Secret) {
	if sec != nil && sec.Annotations[RepairedAnnotation] != "" {
		r.Repairs = append(r.Repairs, fmt.Sprintf("Secret %s: %s", name, sec.Annotations[RepairedAnnotation]))
		slices.Sort(r.Repairs)
	}
}

// AddLeaf records a leaf in use: as ensured in this reconcile (res), or as stored.
func (r *Report) AddLeaf(leaf Leaf, res LeafResult) {
	if res.Certificate == nil {
		return
	}
	r.Leaves = append(r.Leaves, Observed{Role: leaf.Role, SecretName: leaf.SecretName, Certificate: res.Certificate,
		RenewBefore: leaf.Spec.RenewBefore, Generation: res.Generation})
	r.AddRepair(leaf.SecretName, res.Secret)
}

// Leaf is the leaf in use with role, nil when there is none.
func (r *Report) Leaf(role string) *Observed {
	for i := range r.Leaves {
		if r.Leaves[i].Role == role {
			return &r.Leaves[i]
		}
	}
	return nil
}

// InUse lists the CA and the leaves.
func (r *Report) InUse() []Observed {
	var out []Observed
	if r.CA != nil {
		out = append(out, *r.CA)
	}
	return append(out, r.Leaves...)
}

func (r *Report) rotating() bool { return r.Phase != "" && r.Phase != pki.RotationIdle }

// StatusOf is a certificate's status entry; nil for nil.
func StatusOf(o *Observed) *cybercoopv1alpha1.CertificateStatus {
	if o == nil {
		return nil
	}
	f := pki.FactsOf(o.Certificate, o.RenewBefore)
	return &cybercoopv1alpha1.CertificateStatus{
		SecretName:        o.SecretName,
		NotBefore:         metav1.NewTime(f.NotBefore),
		NotAfter:          metav1.NewTime(f.NotAfter),
		RenewalTime:       metav1.NewTime(f.RenewalTime),
		SerialNumber:      f.SerialNumber,
		SHA256Fingerprint: f.SHA256Fingerprint,
		CAGeneration:      o.Generation,
	}
}

// RotationStatus reports the CA key replacement; nil when the resource owns no CA of
// the operator's.
func RotationStatus(r *Report) *cybercoopv1alpha1.CARotationStatus {
	if r.Issuer != "" || !r.OwnsCA {
		return nil
	}
	phase := r.Phase
	if phase == "" {
		phase = pki.RotationIdle
	}
	out := &cybercoopv1alpha1.CARotationStatus{Phase: cybercoopv1alpha1.CARotationPhase(phase)}
	if phase != pki.RotationIdle {
		if r.StartedAt != nil {
			t := metav1.NewTime(*r.StartedAt)
			out.StartedAt = &t
		}
		out.Message = r.RotationMessage
		out.WaitingForPeers = r.WaitingForPeers
	}
	return out
}

// ReadyCondition is the CertificateReady condition for the report at now.
func ReadyCondition(r *Report, now time.Time) metav1.Condition {
	cond := metav1.Condition{Type: cybercoopv1alpha1.ConditionCertificateReady}
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		cond.Status, cond.Reason, cond.Message = status, reason, fmt.Sprintf(format, args...)
		return cond
	}
	if r.CALost != "" {
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonCAKeyLost, "%s", r.CALost)
	}
	if r.Err != nil {
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateIssuanceFailed, "%v", r.Err)
	}
	if r.BlockedReason != "" {
		return set(metav1.ConditionFalse, r.BlockedReason, "%s", r.BlockedMessage)
	}
	awaiting := r.Awaiting
	if awaiting == "" {
		awaiting = "the certificates"
	}
	switch {
	case r.Issuer != "" && len(r.Leaves) == 0:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "cert-manager (%s) has not issued %s yet", r.Issuer, awaiting)
	case r.Issuer == "" && r.OwnsCA && (r.CA == nil || len(r.Leaves) == 0):
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the CA and %s have not been issued yet", awaiting)
	case r.Issuer == "" && len(r.Leaves) == 0:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "%s has not been issued yet", awaiting)
	}
	var valid []string
	for _, o := range r.InUse() {
		f := pki.FactsOf(o.Certificate, o.RenewBefore)
		if !now.Before(f.NotAfter) || now.Before(f.NotBefore) {
			return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateExpired,
				"the %s certificate in Secret %s is valid only from %s to %s", o.Role, o.SecretName, rfc3339(f.NotBefore), rfc3339(f.NotAfter))
		}
		issuedBy := fmt.Sprintf("CA generation %d", o.Generation)
		if r.Issuer != "" {
			issuedBy = "issued by cert-manager " + r.Issuer
		}
		valid = append(valid, fmt.Sprintf("%s (Secret %s, %s) valid until %s, renewal at %s",
			o.Role, o.SecretName, issuedBy, rfc3339(f.NotAfter), rfc3339(f.RenewalTime)))
	}
	if r.rotating() {
		since := ""
		if r.StartedAt != nil {
			since = " started " + rfc3339(*r.StartedAt)
		}
		return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonCARotationInProgress, "CA key replacement%s, phase %s: %s",
			since, r.Phase, r.RotationMessage)
	}
	if len(r.Repairs) > 0 {
		return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificateRepaired, "repaired, the certificates are valid again: %s",
			strings.Join(r.Repairs, "; "))
	}
	return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificatesValid, "%s", strings.Join(valid, "; "))
}

// Warning is a Warning event about a certificate in use that should already have
// been renewed.
type Warning struct {
	Reason  string
	Message string
}

// ExpiryWarnings lists the certificates in use that are past their renewal time: the
// renewal is failing or blocked (a lost CA key, a stuck rollout). A CA whose key is
// being replaced is expected to be past its renewal time until the rollout ends, so
// it is only reported within the last expiryWarningWindow.
func ExpiryWarnings(r *Report, now time.Time) []Warning {
	var out []Warning
	for _, o := range r.InUse() {
		f := pki.FactsOf(o.Certificate, o.RenewBefore)
		left := f.NotAfter.Sub(now)
		switch {
		case now.Before(f.RenewalTime):
			continue
		case left <= 0:
			out = append(out, Warning{cybercoopv1alpha1.EventCertificateExpiringSoon,
				fmt.Sprintf("the %s certificate in Secret %s EXPIRED at %s and was not renewed", o.Role, o.SecretName, rfc3339(f.NotAfter))})
		case left < expiryWarningWindow:
			out = append(out, Warning{cybercoopv1alpha1.EventCertificateExpiringSoon,
				fmt.Sprintf("the %s certificate in Secret %s expires at %s (in %s) and renewal, due at %s, has not succeeded",
					o.Role, o.SecretName, rfc3339(f.NotAfter), left.Round(time.Minute), rfc3339(f.RenewalTime))})
		case o.Role == RoleCA && r.rotating():
			continue
		default:
			out = append(out, Warning{cybercoopv1alpha1.EventCertificateRenewalOverdue,
				fmt.Sprintf("the %s certificate in Secret %s was due for renewal at %s and has not been renewed; it expires at %s",
					o.Role, o.SecretName, rfc3339(f.RenewalTime), rfc3339(f.NotAfter))})
		}
	}
	return out
}

// NextCheck is when a certificate in use next needs attention: its renewal time, or,
// when that has passed without a renewal, the start of the warning window, or its
// expiry. Zero when there is nothing ahead.
func NextCheck(r *Report, now time.Time) time.Time {
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
	for _, o := range r.InUse() {
		f := pki.FactsOf(o.Certificate, o.RenewBefore)
		_ = consider(f.RenewalTime) || consider(f.NotAfter.Add(-expiryWarningWindow)) || consider(f.NotAfter)
	}
	return next
}

// Publish exports the expiry of the certificates in use as metrics (removing roles no
// longer in use from roles) and warns in events about certificates past their
// renewal time. Nothing is published when the Secrets could not be read.
func Publish(ctx context.Context, recorder events.EventRecorder, obj client.Object, kind string, roles []string, r *Report, now time.Time) {
	if !r.Observed {
		return
	}
	present := map[string]bool{}
	for _, o := range r.InUse() {
		metrics.SetCertificateExpiration(obj.GetNamespace(), kind, obj.GetName(), o.Role, o.Certificate.NotAfter)
		metrics.SetCertificateRenewal(obj.GetNamespace(), kind, obj.GetName(), o.Role, pki.FactsOf(o.Certificate, o.RenewBefore).RenewalTime)
		present[o.Role] = true
	}
	for _, role := range roles {
		if !present[role] {
			metrics.DeleteCertificateExpiration(obj.GetNamespace(), kind, obj.GetName(), role)
		}
	}
	for _, w := range ExpiryWarnings(r, now) {
		recorder.Eventf(obj, nil, corev1.EventTypeWarning, w.Reason, "CheckCertificate", "%s", w.Message)
		log.FromContext(ctx).Info("certificate renewal overdue", "reason", w.Reason, "detail", w.Message)
	}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
