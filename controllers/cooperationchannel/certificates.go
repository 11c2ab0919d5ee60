package cooperationchannel

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// errNoFocalPoint stops the phases that need the FocalPoint.
type errNoFocalPoint struct{ name string }

func (e errNoFocalPoint) Error() string {
	return fmt.Sprintf("spec.focalPointRef: FocalPoint %q does not exist in this namespace; create it, or name an existing one", e.name)
}

// peerIsSelfMessage says why a channel to the FocalPoint's own country, or from a
// service provider to another provider, does nothing.
func peerIsSelfMessage(cc *cybercoopv1alpha1.CooperationChannel, fp *cybercoopv1alpha1.FocalPoint) string {
	if fp.Spec.ServiceProvider != nil && cc.Spec.Peer.Provider != "" {
		return fmt.Sprintf("spec.peer.provider %s: FocalPoint %s is itself a service provider's endpoint, which answers authorities: "+
			"its channels name a State in spec.peer.country; no certificate is issued and the peer is not probed", cc.Spec.Peer.Provider, fp.Name)
	}
	return fmt.Sprintf("spec.peer.country %s is the country of FocalPoint %s itself: a channel connects to another State; "+
		"no certificate is issued and the peer is not probed", cc.Spec.Peer.Country, fp.Name)
}

// reconcileFocalPoint reads the FocalPoint whose CA issues the channel's certificate
// and whose gateway carries the channel.
func (r *Reconciler) reconcileFocalPoint(ctx context.Context, s *scope) error {
	fp := &cybercoopv1alpha1.FocalPoint{}
	err := r.Get(ctx, types.NamespacedName{Namespace: s.cc.Namespace, Name: s.cc.Spec.FocalPointRef.Name}, fp)
	switch {
	case apierrors.IsNotFound(err):
		// Not an error to retry: the FocalPoint watch brings the channel back when it appears.
		return nil
	case err != nil:
		s.fpErr = fmt.Errorf("reading FocalPoint %s: %w", s.cc.Spec.FocalPointRef.Name, err)
		return s.fpErr
	}
	s.fp = fp
	s.peerIsSelf = fp.Spec.Party() == s.cc.Spec.Peer.Party() ||
		(fp.Spec.ServiceProvider != nil && s.cc.Spec.Peer.Provider != "")
	return nil
}

// clientLeaf is the channel's client certificate: issued from the FocalPoint's
// national CA, for client authentication only, naming the channel in its URI SAN.
// Subject O and C are the CA's.
func clientLeaf(cc *cybercoopv1alpha1.CooperationChannel, fp *cybercoopv1alpha1.FocalPoint) certs.Leaf {
	spec := pki.LeafSpec{
		// Country codes, provider identifiers (ASCII) and fixed words, cut to the
		// 64-byte limit of a CN.
		CommonName: truncateCN(fmt.Sprintf("%s channel to %s", fp.Spec.Party(), cc.Spec.Peer.Party())),
		URIs:       []string{ClientIdentity(cc)},
		Usages:     []pki.Usage{pki.UsageClient},
	}
	if c := fp.Spec.Certificates; c != nil {
		// The FocalPoint chooses the key algorithm of every leaf of its CA.
		spec.KeyAlgorithm = pki.KeyAlgorithm(c.KeyAlgorithm)
	}
	if c := cc.Spec.Certificates; c != nil {
		spec = certs.WithLifetime(spec, *c)
	}
	return certs.Leaf{SecretName: ClientSecretName(cc), Role: roleChannelClient, Spec: spec,
		ForceRenewToken: cc.Annotations[cybercoopv1alpha1.ForceRenewAnnotation], Labels: commonLabels(cc)}
}

// reconcileCertificate keeps the client certificate valid through the shared CA
// part, which issues it from the CA the FocalPoint's key replacement phase says;
// the leaf's issuer label makes it one of the leaves a key replacement re-issues
// and waits for. The same write stores the peer trust decided before it, so a new
// channel costs one Secret write.
func (r *Reconciler) reconcileCertificate(ctx context.Context, s *scope) error {
	s.certs.Awaiting = "the channel's client certificate"
	if s.fp == nil || s.peerIsSelf {
		return nil // reported by the focal point phase
	}
	if c := s.fp.Spec.Certificates; c != nil && c.IssuerRef != nil {
		// Nothing to retry: only a new FocalPoint changes this, and its watch brings it.
		s.certs.Block(cybercoopv1alpha1.ReasonCertificateIssuanceFailed,
			"FocalPoint %s has cert-manager issue its certificates (spec.certificates.issuerRef); in this release a "+
				"CooperationChannel's client certificate is issued only by the operator's own national CA, so this "+
				"channel has none: use a FocalPoint without issuerRef for channels", s.fp.Name)
		return nil
	}
	before := s.liveTrust
	leaf, err := r.ensureLeaf(ctx, s)
	if err == nil {
		r.recordTrustWrite(ctx, s, before, s.client.Secret)
	}
	if s.client.Certificate == nil {
		// Not ensured (the CA is not ready, or the write failed): report what is stored.
		if stored, rerr := certs.ReadLeaf(ctx, r.Client, s.cc.Namespace, leaf.SecretName); rerr == nil && stored.Certificate != nil {
			s.client = stored
		}
	}
	if s.client.Certificate != nil {
		s.certs.Observed = true
		s.certs.AddLeaf(leaf, s.client)
	}
	s.certs.Err = err
	return err
}

// ensureLeaf ensures the client certificate's Secret, with the peer trust to
// store in it; s.client is the result when a certificate was ensured.
func (r *Reconciler) ensureLeaf(ctx context.Context, s *scope) (certs.Leaf, error) {
	leaf := clientLeaf(s.cc, s.fp)
	if !s.liveTrustRead {
		// The Secret could not be read, so neither what it holds of the peer's
		// trust: a write now could drop it. The next reconcile tries again.
		return leaf, s.trustErr
	}
	data, annotations, err := s.trustToStore()
	if err != nil {
		return leaf, err
	}
	leaf.Data, leaf.Annotations = data, annotations
	keeper := ca.Keeper{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	res, st, err := keeper.EnsureLeaf(ctx, s.cc, focalpoint.CARef(s.fp), leaf, s.Now)
	s.ca = st
	if res.Certificate != nil {
		s.client = res
		s.trustStored = s.trust != nil && err == nil
	}
	return leaf, err
}

// ensureClientSecret writes the trust the probe learned into the client Secret.
func (r *Reconciler) ensureClientSecret(ctx context.Context, s *scope) error {
	s.trustStored = false
	_, err := r.ensureLeaf(ctx, s)
	return err
}

// certificatesStatus is status.certificates for the report.
func certificatesStatus(rep *certs.Report) *cybercoopv1alpha1.CooperationChannelCertificatesStatus {
	return &cybercoopv1alpha1.CooperationChannelCertificatesStatus{Client: certs.StatusOf(rep.Leaf(roleChannelClient))}
}

// truncateCN cuts an ASCII common name to the 64 bytes X.520 allows.
func truncateCN(cn string) string {
	if len(cn) > 64 {
		return cn[:64]
	}
	return cn
}
