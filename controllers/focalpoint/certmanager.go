package focalpoint

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// The cert-manager mode (spec.certificates.issuerRef): cert-manager issues the leaves
// through Certificate objects the operator owns; the operator runs no CA, builds the
// trust bundle from the ca.crt cert-manager writes, and reports what was issued. The
// Certificates are handled as unstructured objects, so the operator neither imports
// cert-manager's Go packages nor needs cert-manager installed unless a FocalPoint asks
// for it.

// CertificateGVK is cert-manager's Certificate kind.
var CertificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// certificateRotationPolicy is the privateKey.rotationPolicy of every Certificate the
// operator creates: a new key at every issuance, as the operator's own CA does, set
// explicitly because cert-manager's default changed between releases.
const certificateRotationPolicy = "Always"

// GatewayCertificateName is the cert-manager Certificate that issues the gateway's
// serving certificate into GatewayTLSSecretName.
func GatewayCertificateName(fp *cybercoopv1alpha1.FocalPoint) string {
	return gatewayName(fp) + "-serving"
}

// issuerRefOf is the FocalPoint's cert-manager issuer; nil when the operator's own CA issues.
func issuerRefOf(fp *cybercoopv1alpha1.FocalPoint) *cybercoopv1alpha1.IssuerReference {
	if fp.Spec.Certificates == nil {
		return nil
	}
	return fp.Spec.Certificates.IssuerRef
}

// issuerKindOrDefault and issuerGroupOrDefault apply the API defaults, for objects
// that did not pass the API server (unit tests).
func issuerKindOrDefault(ref *cybercoopv1alpha1.IssuerReference) string {
	if ref.Kind == "" {
		return string(cybercoopv1alpha1.IssuerKindIssuer)
	}
	return string(ref.Kind)
}

func issuerGroupOrDefault(ref *cybercoopv1alpha1.IssuerReference) string {
	if ref.Group == "" {
		return CertificateGVK.Group
	}
	return ref.Group
}

// describeIssuer names the issuer in messages, e.g. `ClusterIssuer "national-ca" (cert-manager.io)`.
func describeIssuer(ref *cybercoopv1alpha1.IssuerReference) string {
	return fmt.Sprintf("%s %q (%s)", issuerKindOrDefault(ref), ref.Name, issuerGroupOrDefault(ref))
}

// CertManagerInstalled reports whether the API server serves cert-manager's
// Certificate kind. Any answer other than "served" or "no such kind" is an error, so
// a discovery failure at start-up is not mistaken for a cluster without cert-manager.
func CertManagerInstalled(mapper meta.RESTMapper) (bool, error) {
	_, err := mapper.RESTMapping(CertificateGVK.GroupKind(), CertificateGVK.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	}
	return false, fmt.Errorf("looking up cert-manager's %s kind: %w", CertificateGVK, err)
}

// The parts of cert-manager's Certificate spec the operator sets, in its JSON form.
type (
	certManagerCertificateSpec struct {
		SecretName     string                     `json:"secretName"`
		SecretTemplate *certManagerSecretTemplate `json:"secretTemplate,omitempty"`
		CommonName     string                     `json:"commonName,omitempty"`
		DNSNames       []string                   `json:"dnsNames"`
		Duration       string                     `json:"duration"`
		RenewBefore    string                     `json:"renewBefore"`
		Usages         []string                   `json:"usages"`
		PrivateKey     certManagerPrivateKey      `json:"privateKey"`
		IssuerRef      certManagerIssuerRef       `json:"issuerRef"`
	}
	certManagerSecretTemplate struct {
		Labels map[string]string `json:"labels,omitempty"`
	}
	certManagerPrivateKey struct {
		Algorithm      string `json:"algorithm"`
		Size           int64  `json:"size"`
		Encoding       string `json:"encoding"`
		RotationPolicy string `json:"rotationPolicy"`
	}
	certManagerIssuerRef struct {
		Name  string `json:"name"`
		Kind  string `json:"kind"`
		Group string `json:"group"`
	}
)

// certManagerPrivateKeyFor maps a key algorithm to cert-manager's privateKey and the
// key usages that fit it: an RSA key also enciphers (RSA key exchange), an ECDSA key
// only signs.
func certManagerPrivateKeyFor(a pki.KeyAlgorithm) (certManagerPrivateKey, []string) {
	key := certManagerPrivateKey{Algorithm: "ECDSA", Size: 256, Encoding: "PKCS8", RotationPolicy: certificateRotationPolicy}
	usages := []string{"server auth", "digital signature"}
	switch a.OrDefault() {
	case pki.ECDSAP384:
		key.Size = 384
	case pki.RSA3072:
		key.Algorithm, key.Size = "RSA", 3072
		usages = append(usages, "key encipherment")
	}
	return key, usages
}

// leafRenewBefore is the leaf's effective renewBefore: the spec's, or a third of the
// lifetime (renewal at two thirds, as pki.RenewalTime computes it for status).
func leafRenewBefore(spec pki.LeafSpec) (time.Duration, time.Duration) {
	lifetime := spec.Duration
	if lifetime == 0 {
		lifetime = pki.DefaultLeafDuration
	}
	if spec.RenewBefore > 0 && spec.RenewBefore < lifetime {
		return lifetime, spec.RenewBefore
	}
	return lifetime, lifetime / 3
}

// desiredCertificate is the cert-manager Certificate that issues leaf for fp.
func desiredCertificate(fp *cybercoopv1alpha1.FocalPoint, name string, leaf certs.Leaf) (*unstructured.Unstructured, error) {
	ref := issuerRefOf(fp)
	lifetime, renewBefore := leafRenewBefore(leaf.Spec)
	key, usages := certManagerPrivateKeyFor(leaf.Spec.KeyAlgorithm)
	spec := &certManagerCertificateSpec{
		SecretName:     leaf.SecretName,
		SecretTemplate: &certManagerSecretTemplate{Labels: leaf.Labels},
		CommonName:     leaf.Spec.CommonName,
		DNSNames:       leaf.Spec.DNSNames,
		Duration:       lifetime.String(),
		RenewBefore:    renewBefore.String(),
		Usages:         usages,
		PrivateKey:     key,
		IssuerRef:      certManagerIssuerRef{Name: ref.Name, Kind: issuerKindOrDefault(ref), Group: issuerGroupOrDefault(ref)},
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spec)
	if err != nil {
		return nil, fmt.Errorf("building Certificate %s: %w", name, err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": content}}
	u.SetGroupVersionKind(CertificateGVK)
	u.SetName(name)
	u.SetNamespace(fp.Namespace)
	labels := commonLabels(fp)
	labels[certs.RoleLabel] = leaf.Role
	u.SetLabels(labels)
	return u, nil
}

// certificateSpec compares a cert-manager Certificate by its spec, which the operator
// owns entirely; cert-manager writes only status.
var certificateSpec = apply.Spec[*unstructured.Unstructured]{
	InSync: func(d, l *unstructured.Unstructured) bool {
		return equality.Semantic.DeepEqual(l.Object["spec"], d.Object["spec"])
	},
	Repair: func(d, l *unstructured.Unstructured) { l.Object["spec"] = d.Object["spec"] },
}

// certificateNotReady explains why cert-manager does not report the Certificate Ready
// for its current spec; empty when it does.
func certificateNotReady(cert *unstructured.Unstructured) string {
	conditions, _, _ := unstructured.NestedSlice(cert.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["type"] != "Ready" {
			continue
		}
		status, _ := cond["status"].(string)
		reason, _ := cond["reason"].(string)
		message, _ := cond["message"].(string)
		observed, _ := cond["observedGeneration"].(int64)
		if observed != 0 && observed < cert.GetGeneration() {
			return "cert-manager has not yet processed the Certificate's current spec"
		}
		if status == string(metav1.ConditionTrue) {
			return ""
		}
		return fmt.Sprintf("cert-manager reports Ready=%s (%s): %s", status, reason, message)
	}
	return "cert-manager has not reported on the Certificate yet"
}

// reconcileIssuedCertificates is reconcileCertificates for spec.certificates.issuerRef.
// What stops the certificates from being ready without being an error (cert-manager
// missing, issuance pending, no ca.crt) is recorded with s.certs.Block and reported
// through CertificateReady; the Certificate watch brings the next change.
func (r *Reconciler) reconcileIssuedCertificates(ctx context.Context, s *scope, leaf certs.Leaf) error {
	fp := s.fp
	s.certs.Issuer = describeIssuer(issuerRefOf(fp))
	st, err := ca.Load(ctx, r.Client, CARef(fp))
	if err != nil {
		return err
	}
	s.certs.Observed = true
	defer func() {
		st.ReportBundle(&s.certs)
		s.podCertificates = ca.ConsumerTemplateAnnotations(st.BundleHash(), pki.RotationIdle, nil)
	}()
	issued, err := r.servedLeaf(ctx, s, leaf)
	if err != nil {
		return err
	}
	if !r.certManagerInstalled {
		s.certs.Block(cybercoopv1alpha1.ReasonCertManagerNotInstalled,
			"spec.certificates.issuerRef hands issuance to cert-manager (%s), but cert-manager's Certificate CRD (%s) was not found "+
				"when the operator started: install cert-manager, then restart the operator", s.certs.Issuer, CertificateGVK)
		return nil
	}
	desired, err := desiredCertificate(fp, GatewayCertificateName(fp), leaf)
	if err != nil {
		return err
	}
	cert, err := apply.Apply(ctx, s.children, desired, certificateSpec, "")
	if err != nil {
		return err
	}
	notReady := certificateNotReady(cert)
	switch {
	case issued.Secret == nil || issued.Certificate == nil:
		what := fmt.Sprintf("Secret %s does not exist yet", leaf.SecretName)
		if issued.Secret != nil {
			what = fmt.Sprintf("Secret %s holds no usable certificate and key", leaf.SecretName)
		}
		if notReady == "" {
			notReady = "cert-manager reports the Certificate Ready"
		}
		s.certs.Block(cybercoopv1alpha1.ReasonCertificateIssuerPending, "waiting for cert-manager Certificate %s (issuer %s): %s; %s",
			cert.GetName(), s.certs.Issuer, what, notReady)
		return nil
	}
	bundle, caProblem := issuedTrustBundle(issued.Secret)
	if caProblem != "" {
		// The bundle is left as it is: an empty one would tell consumers to trust nothing,
		// and guessing a CA would tell them to trust the wrong one.
		s.certs.Block(cybercoopv1alpha1.ReasonIssuerCACertificateMissing,
			"the certificate cert-manager issued into Secret %s (Certificate %s, issuer %s) cannot be published with a trust bundle: %s; "+
				"consumers cannot verify the gateway: use an issuer that fills ca.crt (such as a CA or Vault issuer)",
			leaf.SecretName, cert.GetName(), s.certs.Issuer, caProblem)
		return nil
	}
	keeper := ca.Keeper{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	if err := keeper.PublishBundle(ctx, authority(fp), st, s.Now, bundle.Certificates()...); err != nil {
		return err
	}
	if notReady != "" {
		s.certs.Block(cybercoopv1alpha1.ReasonCertificateIssuerPending, "cert-manager Certificate %s (issuer %s) is not ready: %s",
			cert.GetName(), s.certs.Issuer, notReady)
	}
	return nil
}

// issuedTrustBundle is the trust bundle for a Secret cert-manager issued: the CA
// certificates under its ca.crt, as cert-manager fills it. The problem is empty when
// the bundle is usable.
func issuedTrustBundle(secret *corev1.Secret) (*pki.TrustBundle, string) {
	data := secret.Data[pki.CACertKey]
	if len(data) == 0 {
		return nil, fmt.Sprintf("the Secret has no %s (the issuer does not publish its CA)", pki.CACertKey)
	}
	bundle, err := pki.ParseTrustBundle(data)
	if err != nil {
		return nil, fmt.Sprintf("its %s is unusable: %v", pki.CACertKey, err)
	}
	return bundle, ""
}
