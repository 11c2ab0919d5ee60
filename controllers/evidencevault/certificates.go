package evidencevault

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

// Certificate roles of an EvidenceVault.
const (
	roleVaultServing   = "vault-serving"
	roleOperatorClient = "operator-client"
)

// errNoFocalPoint stops the phases that need the FocalPoint's CA.
type errNoFocalPoint struct{ name string }

func (e errNoFocalPoint) Error() string {
	return fmt.Sprintf("spec.focalPointRef: FocalPoint %q does not exist in this namespace; create it, or name an existing one", e.name)
}

// reconcileFocalPoint reads the FocalPoint the vault serves.
func (r *Reconciler) reconcileFocalPoint(ctx context.Context, s *scope) error {
	fp := &cybercoopv1alpha1.FocalPoint{}
	err := r.Get(ctx, types.NamespacedName{Namespace: s.ev.Namespace, Name: s.ev.Spec.FocalPointRef.Name}, fp)
	switch {
	case apierrors.IsNotFound(err):
		return errNoFocalPoint{s.ev.Spec.FocalPointRef.Name}
	case err != nil:
		return fmt.Errorf("reading FocalPoint %s: %w", s.ev.Spec.FocalPointRef.Name, err)
	}
	s.fp = fp
	return nil
}

// leaves are the vault's serving certificate (the in-cluster names of its Services
// and its pod) and the operator's client certificate for the vault's API.
func leaves(ev *cybercoopv1alpha1.EvidenceVault) (serving, operatorClient certs.Leaf) {
	host := ServiceHost(ev)
	headless := fmt.Sprintf("%s.%s.svc", HeadlessServiceName(ev), ev.Namespace)
	servingSpec := pki.LeafSpec{
		CommonName: host,
		DNSNames: []string{vaultName(ev), host, host + ".cluster.local",
			vaultName(ev) + "-0." + headless, vaultName(ev) + "-0." + headless + ".cluster.local"},
		Usages: []pki.Usage{pki.UsageServer},
	}
	clientSpec := pki.LeafSpec{
		CommonName: "cybercoop-operator",
		URIs:       []string{OperatorIdentity(ev.Namespace)},
		Usages:     []pki.Usage{pki.UsageClient},
	}
	if c := ev.Spec.Certificates; c != nil {
		servingSpec = certs.WithLifetime(servingSpec, *c)
		clientSpec = certs.WithLifetime(clientSpec, *c)
	}
	token := ev.Annotations[cybercoopv1alpha1.ForceRenewAnnotation]
	serving = certs.Leaf{SecretName: ServingSecretName(ev), Role: roleVaultServing, Spec: servingSpec,
		ForceRenewToken: token, Labels: commonLabels(ev)}
	operatorClient = certs.Leaf{SecretName: OperatorClientSecretName(ev), Role: roleOperatorClient, Spec: clientSpec,
		ForceRenewToken: token, Labels: commonLabels(ev)}
	return serving, operatorClient
}

// reconcileCertificates keeps both leaves valid through the shared CA part, which
// issues them from the CA the FocalPoint's key replacement phase says.
func (r *Reconciler) reconcileCertificates(ctx context.Context, s *scope) error {
	s.certs.Awaiting = "the vault's serving certificate"
	if s.fp == nil {
		return nil // reported by the focal point phase
	}
	if c := s.fp.Spec.Certificates; c != nil && c.IssuerRef != nil {
		err := fmt.Errorf("FocalPoint %s has cert-manager issue its certificates (spec.certificates.issuerRef); "+
			"an EvidenceVault needs the operator's own national CA, which this FocalPoint does not run", s.fp.Name)
		s.certs.Err = err
		return err
	}
	keeper := ca.Keeper{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	serving, operatorClient := leaves(s.ev)
	wanted := []certs.Leaf{serving, operatorClient}
	results, st, err := keeper.EnsureLeaves(ctx, s.ev, focalpoint.CARef(s.fp), wanted, s.Now)
	s.ca = st
	for i, leaf := range wanted {
		var res certs.LeafResult
		if i < len(results) {
			res = results[i]
		}
		if res.Certificate == nil {
			// Not ensured: report what is stored.
			stored, rerr := certs.ReadLeaf(ctx, r.Client, s.ev.Namespace, leaf.SecretName)
			if rerr != nil {
				continue
			}
			res = stored
		}
		s.certs.Observed = true
		s.certs.AddLeaf(leaf, res)
		if leaf.Role == roleOperatorClient {
			s.operatorClient = res
		}
	}
	if s.ca != nil {
		s.podCertificates = ca.ConsumerTemplateAnnotations(s.ca.BundleHash(), s.ca.Phase(), s.servedCertificate())
	}
	s.certs.Err = err
	return err
}

// certificatesStatus is status.certificates for the report.
func certificatesStatus(rep *certs.Report) *cybercoopv1alpha1.EvidenceVaultCertificatesStatus {
	return &cybercoopv1alpha1.EvidenceVaultCertificatesStatus{
		Serving:        certs.StatusOf(rep.Leaf(roleVaultServing)),
		OperatorClient: certs.StatusOf(rep.Leaf(roleOperatorClient)),
	}
}
