package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// CA is the CA leaves are issued from right now. During a CA key replacement that is
// the old CA until every consumer trusts the new one, then the new CA.
type CA struct {
	// SecretName is the CA Secret's name; leaves carry it in IssuerLabel.
	SecretName string
	// Certificate is the CA certificate leaves are checked against.
	Certificate *x509.Certificate
	// KeyPair signs new leaves. Nil when the CA key is unusable: a valid leaf is kept,
	// but none can be issued.
	KeyPair *pki.KeyPair
	// Generation is the CA key's generation, recorded on each leaf issued from it.
	Generation int64
	// Bundle is the trust bundle PEM written under ca.crt of every leaf Secret.
	Bundle []byte
}

// Leaf is one desired leaf certificate and the Secret that holds it.
type Leaf struct {
	// SecretName is the kubernetes.io/tls Secret holding tls.crt, tls.key and ca.crt.
	SecretName string
	// Role says what the certificate is for, e.g. "gateway-serving"; it labels the
	// Secret and names the certificate in events.
	Role string
	// Spec is the leaf to issue and to check the stored one against.
	Spec pki.LeafSpec
	// ForceRenewToken re-issues the leaf once whenever it changes to a new non-empty value.
	ForceRenewToken string
	// Labels are added to the Secret.
	Labels map[string]string
	// Data is what the owner keeps in the Secret beside the certificate, under keys
	// other than tls.crt, tls.key and ca.crt (a channel keeps its peer's CAs there).
	// It is written with the leaf, in the same write, and kept exactly: a key
	// missing from Data is removed from the Secret, an edited value repaired.
	Data map[string][]byte
	// Annotations are cybercoop.io/ annotations written with the leaf, and set
	// again when edited.
	Annotations map[string]string
}

// LeafResult is the state of a leaf after EnsureLeaf.
type LeafResult struct {
	// Secret is the Secret as stored after the call.
	Secret *corev1.Secret
	// Certificate is the stored leaf certificate; nil when none is usable.
	Certificate *x509.Certificate
	// Generation is the generation of the CA key that issued Certificate.
	Generation int64
	// Decision is what pki.DecideLeaf decided.
	Decision pki.LeafDecision
	// Issued is true when a new certificate was issued in this call.
	Issued bool
	// Repaired is the RepairedAnnotation of the stored Secret: what was found tampered
	// with and repaired since the last regular renewal. Empty when nothing was.
	Repaired string
}

// Issuer issues leaves and reports what it did as events on the owning resource.
type Issuer struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
}

// EnsureLeaf keeps leaf's Secret holding a valid certificate issued by ca for
// leaf.Spec, with ca.Bundle under ca.crt. A missing, damaged, tampered, mismatched,
// due or force-renewed leaf is replaced by a new one in a single write, so there is no
// moment without a usable certificate; a sound leaf is kept and only its ca.crt is
// brought up to date. owner becomes the Secret's controller.
func (i *Issuer) EnsureLeaf(ctx context.Context, owner client.Object, leaf Leaf, ca CA, now time.Time) (LeafResult, error) {
	live, err := GetSecret(ctx, i.Client, owner.GetNamespace(), leaf.SecretName)
	if err != nil {
		return LeafResult{}, err
	}
	var liveData map[string][]byte
	var liveAnn map[string]string
	if live != nil {
		liveData, liveAnn = live.Data, live.Annotations
	}
	// ca.crt is checked by comparing it with the bundle, so a damaged bundle copy
	// never makes a sound leaf look unusable.
	current, parseErr := pki.ParseLeafSecret(map[string][]byte{
		pki.TLSCertKey: liveData[pki.TLSCertKey], pki.TLSPrivateKeyKey: liveData[pki.TLSPrivateKeyKey],
	})
	decision, err := pki.DecideLeaf(pki.LeafInput{
		Current: current, ParseErr: parseErr, CA: ca.Certificate, Spec: leaf.Spec,
		ForceRenewToken: leaf.ForceRenewToken, IssuedForceRenewToken: liveAnn[ForceRenewTokenAnnotation],
	}, now)
	if err != nil {
		return LeafResult{}, fmt.Errorf("%s certificate in Secret %s: %w", leaf.Role, leaf.SecretName, err)
	}
	issuedGen, _ := strconv.ParseInt(liveAnn[CAGenerationAnnotation], 10, 64)
	wrongType := live != nil && live.Type != corev1.SecretTypeTLS
	tampered := live != nil && (wrongType || Tampered(decision.Reason, issuedGen, ca.Generation))

	desired := &corev1.Secret{Type: corev1.SecretTypeTLS}
	desired.Name, desired.Namespace = leaf.SecretName, owner.GetNamespace()
	desired.Labels = map[string]string{IssuerLabel: ca.SecretName, RoleLabel: leaf.Role}
	for k, v := range leaf.Labels {
		desired.Labels[k] = v
	}
	res := LeafResult{Decision: decision}

	if decision.Action == pki.LeafKeep && !wrongType {
		desired.Data = map[string][]byte{
			pki.TLSCertKey: liveData[pki.TLSCertKey], pki.TLSPrivateKeyKey: liveData[pki.TLSPrivateKeyKey], pki.CACertKey: ca.Bundle,
		}
		desired.Annotations = ownedAnnotations(liveAnn)
		res.Certificate, res.Generation = current.Certificate, issuedGen
	} else {
		issued, err := i.issue(leaf, ca, now)
		if err != nil {
			i.Recorder.Eventf(owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRenewalFailed, "IssueCertificate",
				"%s certificate in Secret %s could not be issued (%s): %v", leaf.Role, leaf.SecretName, decision.Message, err)
			return res, err
		}
		key, err := issued.PrivateKeyPEM()
		if err != nil {
			return res, fmt.Errorf("%s certificate in Secret %s: %w", leaf.Role, leaf.SecretName, err)
		}
		desired.Data = map[string][]byte{pki.TLSCertKey: issued.CertificatePEM(), pki.TLSPrivateKeyKey: key, pki.CACertKey: ca.Bundle}
		desired.Annotations = map[string]string{CAGenerationAnnotation: strconv.FormatInt(ca.Generation, 10)}
		if leaf.ForceRenewToken != "" {
			desired.Annotations[ForceRenewTokenAnnotation] = leaf.ForceRenewToken
		}
		if tampered {
			problem := decision.Message
			if wrongType {
				problem = fmt.Sprintf("the Secret has type %q instead of %q", live.Type, corev1.SecretTypeTLS)
			}
			desired.Annotations[RepairedAnnotation] = fmt.Sprintf("%s at %s: %s", decision.Reason, now.UTC().Format(time.RFC3339), problem)
		}
		res.Certificate, res.Generation, res.Issued = issued.Certificate, ca.Generation, true
	}
	for k, v := range leaf.Data {
		if _, reserved := desired.Data[k]; !reserved {
			desired.Data[k] = v
		}
	}
	for k, v := range leaf.Annotations {
		if !leafAnnotations[k] {
			desired.Annotations[k] = v
		}
	}
	stored, outcome, err := ApplySecret(ctx, i.Client, i.Scheme, owner, live, desired)
	if err != nil {
		if res.Issued && !apierrors.IsConflict(err) {
			i.Recorder.Eventf(owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRenewalFailed, "StoreCertificate",
				"%s certificate could not be stored in Secret %s: %v", leaf.Role, leaf.SecretName, err)
		}
		return LeafResult{Decision: decision}, err
	}
	res.Secret, res.Repaired = stored, stored.Annotations[RepairedAnnotation]
	if res.Issued {
		i.recordIssued(ctx, owner, leaf, live, res, tampered, outcome)
	}
	return res, nil
}

// leafAnnotations are the annotations EnsureLeaf itself keeps on a leaf Secret;
// Leaf.Annotations cannot set them.
var leafAnnotations = map[string]bool{CAGenerationAnnotation: true, ForceRenewTokenAnnotation: true, RepairedAnnotation: true}

func (i *Issuer) issue(leaf Leaf, ca CA, now time.Time) (*pki.IssuedLeaf, error) {
	if ca.KeyPair == nil {
		return nil, errors.New("the CA key is unusable, so no certificate can be issued from it")
	}
	return pki.IssueLeaf(ca.KeyPair, leaf.Spec, now)
}

func (i *Issuer) recordIssued(ctx context.Context, owner client.Object, leaf Leaf, live *corev1.Secret, res LeafResult, tampered bool, outcome apply.Outcome) {
	facts := pki.FactsOf(res.Certificate, leaf.Spec.RenewBefore)
	d := res.Decision
	valid := fmt.Sprintf("serial %s, SHA-256 %s, valid until %s, renewal at %s", facts.SerialNumber, facts.SHA256Fingerprint,
		facts.NotAfter.UTC().Format(time.RFC3339), facts.RenewalTime.UTC().Format(time.RFC3339))
	switch {
	case tampered:
		i.Recorder.Eventf(owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRepaired, "RepairCertificate",
			"Secret %s (%s certificate) was tampered with or damaged (%s: %s); issued a new certificate: %s",
			leaf.SecretName, leaf.Role, d.Reason, d.Message, valid)
	case live == nil || d.Reason == pki.ReasonMissing:
		i.Recorder.Eventf(owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCertificateIssued, "IssueCertificate",
			"issued the %s certificate into Secret %s: %s", leaf.Role, leaf.SecretName, valid)
	default:
		i.Recorder.Eventf(owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCertificateRenewed, "RenewCertificate",
			"renewed the %s certificate in Secret %s (%s: %s): %s", leaf.Role, leaf.SecretName, d.Reason, d.Message, valid)
	}
	log.FromContext(ctx).Info("certificate issued", "secret", leaf.SecretName, "role", leaf.Role, "reason", d.Reason,
		"serial", facts.SerialNumber, "notAfter", facts.NotAfter, "caGeneration", res.Generation, "outcome", outcome, "repaired", tampered)
}

// Tampered reports whether a leaf decision means the stored leaf was altered rather
// than merely due: unusable data, a key that is not the certificate's, or a
// certificate not issued by the CA although it is recorded as issued by this CA
// generation (a leaf from an older generation is expected to differ during a key
// replacement).
func Tampered(reason pki.Reason, issuedGeneration, caGeneration int64) bool {
	switch reason {
	case pki.ReasonInvalid, pki.ReasonKeyMismatch:
		return true
	case pki.ReasonNotSignedByCurrentCA:
		return issuedGeneration >= caGeneration
	}
	return false
}

// ReadLeaf is the leaf stored in Secret name, for status when it was not ensured in
// this reconcile. A missing or unusable Secret gives a result without a certificate.
func ReadLeaf(ctx context.Context, c client.Client, namespace, name string) (LeafResult, error) {
	sec, err := GetSecret(ctx, c, namespace, name)
	if err != nil || sec == nil {
		return LeafResult{}, err
	}
	res := LeafResult{Secret: sec}
	if ls, err := pki.ParseLeafSecret(map[string][]byte{pki.TLSCertKey: sec.Data[pki.TLSCertKey], pki.TLSPrivateKeyKey: sec.Data[pki.TLSPrivateKeyKey]}); err == nil {
		res.Certificate = ls.Certificate
		res.Generation, _ = strconv.ParseInt(sec.Annotations[CAGenerationAnnotation], 10, 64)
	}
	return res, nil
}

// WithLifetime applies a resource's leaf lifetime settings to spec.
func WithLifetime(spec pki.LeafSpec, lifetime cybercoopv1alpha1.LeafCertificateSpec) pki.LeafSpec {
	if lifetime.LeafDuration != nil {
		spec.Duration = lifetime.LeafDuration.Duration
	}
	if lifetime.LeafRenewBefore != nil {
		spec.RenewBefore = lifetime.LeafRenewBefore.Duration
	}
	return spec
}
