package focalpoint

import (
	"context"
	"fmt"
	"unicode/utf8"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// roleGatewayServing is the gateway's serving certificate.
const roleGatewayServing = metrics.RoleGatewayServing

// CASecretName is the Secret holding the FocalPoint's national CA key pair.
func CASecretName(fp *cybercoopv1alpha1.FocalPoint) string { return fp.Name + "-ca" }

// TrustBundleSecretName is the Secret whose ca.crt holds every CA certificate consumers trust.
func TrustBundleSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return fp.Name + "-trust-bundle" }

// GatewayTLSSecretName is the gateway's serving certificate Secret (kubernetes.io/tls).
func GatewayTLSSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return gatewayName(fp) + "-tls" }

// CARef names the FocalPoint's national CA, for every resource that needs a leaf
// from it or trusts it.
func CARef(fp *cybercoopv1alpha1.FocalPoint) ca.Ref {
	return ca.Ref{Namespace: fp.Namespace, SecretName: CASecretName(fp), BundleSecretName: TrustBundleSecretName(fp)}
}

// authority is the FocalPoint's national CA as internal/ca keeps it.
func authority(fp *cybercoopv1alpha1.FocalPoint) ca.Authority {
	a := ca.Authority{
		Ref:               CARef(fp),
		Owner:             fp,
		Spec:              caSpec(fp),
		Policy:            pki.PolicyRenewCertificate,
		ForceReplaceToken: fp.Annotations[cybercoopv1alpha1.ForceReplaceCAAnnotation],
		Labels:            commonLabels(fp),
	}
	if c := fp.Spec.Certificates; c != nil && c.CARotationPolicy == cybercoopv1alpha1.CARotationReplaceKey {
		a.Policy = pki.PolicyReplaceKey
	}
	if c := fp.Status.Certificates; c != nil {
		if c.CA != nil {
			a.KnownGeneration = c.CA.CAGeneration
		}
		a.BundlePublished = c.TrustBundle != nil
	}
	return a
}

// caSpec is the desired CA for fp.
func caSpec(fp *cybercoopv1alpha1.FocalPoint) pki.CASpec {
	spec := pki.CASpec{
		CommonName:   caCommonName(fp),
		Organization: truncateUTF8(fp.Spec.Authority, 64),
		Country:      string(fp.Spec.Country),
	}
	if c := fp.Spec.Certificates; c != nil {
		spec.KeyAlgorithm = pki.KeyAlgorithm(c.KeyAlgorithm)
		if c.CADuration != nil {
			spec.Duration = c.CADuration.Duration
		}
		if c.CARenewBefore != nil {
			spec.RenewBefore = c.CARenewBefore.Duration
		}
	}
	return spec
}

// truncateUTF8 cuts s to at most n bytes without splitting a character (X.509 limits
// subject attributes to 64 characters; the API allows a longer authority).
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// gatewayLeaf is the gateway's serving certificate: the Service's in-cluster names.
func gatewayLeaf(fp *cybercoopv1alpha1.FocalPoint) certs.Leaf {
	svc := gatewayName(fp)
	spec := pki.LeafSpec{
		CommonName: truncateUTF8(svc+"."+fp.Namespace+".svc", 64),
		DNSNames: []string{
			svc, svc + "." + fp.Namespace, svc + "." + fp.Namespace + ".svc", svc + "." + fp.Namespace + ".svc.cluster.local",
		},
		Usages: []pki.Usage{pki.UsageServer},
	}
	spec.DNSNames = append(spec.DNSNames, fp.Spec.Gateway.ExternalNames...)
	if c := fp.Spec.Certificates; c != nil {
		spec.KeyAlgorithm = pki.KeyAlgorithm(c.KeyAlgorithm)
		spec = certs.WithLifetime(spec, c.LeafCertificateSpec)
	}
	return certs.Leaf{
		SecretName: GatewayTLSSecretName(fp), Role: roleGatewayServing, Spec: spec,
		ForceRenewToken: fp.Annotations[cybercoopv1alpha1.ForceRenewAnnotation], Labels: commonLabels(fp),
	}
}

// reconcileCertificates keeps the national CA, the trust bundle and the gateway's
// serving certificate valid and drives a CA key replacement (internal/ca); with
// spec.certificates.issuerRef, cert-manager issues the leaf instead. It fills s.certs
// and the gateway's pod template annotations, also when it fails half-way.
func (r *Reconciler) reconcileCertificates(ctx context.Context, s *scope) error {
	fp := s.fp
	leaf := gatewayLeaf(fp)
	s.certs.Awaiting = "the gateway's serving certificate"
	var err error
	if issuerRefOf(fp) != nil {
		err = r.reconcileIssuedCertificates(ctx, s, leaf)
	} else {
		if err := r.adoptRetainedCA(ctx, s); err != nil {
			s.certs.Err = err
			return err
		}
		keeper := ca.Keeper{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
		clients := clientLeaves(fp)
		a := authority(fp)
		a.Peers = r.peersAccepting(fp)
		s.ca, err = keeper.Reconcile(ctx, a, append([]certs.Leaf{leaf}, clients...), s.Now)
		if s.ca != nil {
			s.ca.Report(&s.certs, caSpec(fp).EffectiveRenewBefore())
			served, readErr := r.servedLeaf(ctx, s, leaf)
			if readErr == nil {
				s.podCertificates = ca.ConsumerTemplateAnnotations(s.ca.BundleHash(), s.ca.Phase(), served.Certificate)
			}
			for _, c := range clients {
				_, _ = r.servedLeaf(ctx, s, c) // a missing one is reported by the report's Awaiting/Err
			}
		}
	}
	s.certs.Err = err
	return err
}

// servedLeaf is the gateway's leaf as ensured in this reconcile, or as stored, and
// records it in the report.
func (r *Reconciler) servedLeaf(ctx context.Context, s *scope, leaf certs.Leaf) (certs.LeafResult, error) {
	res, ok := certs.LeafResult{}, false
	if s.ca != nil {
		res, ok = s.ca.Leaf(leaf.SecretName)
	}
	if !ok || res.Certificate == nil {
		var err error
		if res, err = certs.ReadLeaf(ctx, r.Client, s.fp.Namespace, leaf.SecretName); err != nil {
			return res, err
		}
	}
	s.certs.AddLeaf(leaf, res)
	return res, nil
}

// certificatesStatus is status.certificates for the report.
func certificatesStatus(rep *certs.Report) *cybercoopv1alpha1.CertificatesStatus {
	return &cybercoopv1alpha1.CertificatesStatus{
		CA:                 certs.StatusOf(rep.CA),
		GatewayServing:     certs.StatusOf(rep.Leaf(roleGatewayServing)),
		GatewayVaultClient: certs.StatusOf(rep.Leaf(roleGatewayClient)),
		Officer:            certs.StatusOf(rep.Leaf(roleOfficer)),
		OperatorClient:     certs.StatusOf(rep.Leaf(roleOperatorClient)),
		TrustBundle:        rep.Bundle,
		Rotation:           certs.RotationStatus(rep),
	}
}

// caCommonName names the FocalPoint's CA: a State's national CA, or a service
// provider's CA (identifiers are ASCII, at most 63 bytes: the CN stays within
// its 64-byte limit once cut).
func caCommonName(fp *cybercoopv1alpha1.FocalPoint) string {
	if sp := fp.Spec.ServiceProvider; sp != nil {
		return truncateUTF8("cybercoop provider "+string(sp.ID), 64)
	}
	return fmt.Sprintf("cybercoop %s national CA", fp.Spec.Country)
}
