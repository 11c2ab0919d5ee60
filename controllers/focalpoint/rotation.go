package focalpoint

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// maxRotationSteps bounds the rotation steps of one reconcile. A full rollout takes at
// most five; the rest waits for consumers and for the gateway to load the re-issued
// leaf, which the Deployment watch reports.
const maxRotationSteps = 8

// advanceRotation takes the CA key replacement's steps (pki.NextRotationStep) until it
// has to wait for consumers or leaves, or there is nothing to do. Every action is
// stored before its phase is recorded, and both live on the CA Secret, so a restart at
// any point repeats at most one idempotent action.
func (r *Reconciler) advanceRotation(ctx context.Context, s *scope, st *pkiState, now time.Time) error {
	fp := s.fp
	for range maxRotationSteps {
		obs, err := r.observeRotation(ctx, s, st, now)
		if err != nil {
			return err
		}
		phase := st.phase()
		step, err := pki.NextRotationStep(phase, obs)
		if err != nil {
			return err
		}
		s.certs.rotationMessage = step.Message
		switch step.Action {
		case pki.RotationNoAction, pki.RotationWaitForConsumers, pki.RotationWaitForLeaves, pki.RotationWaitForLeafConsumers:
			if step.Phase == phase {
				return nil
			}
		case pki.RotationCreateNewCA:
			kp, err := pki.CreateCA(caSpec(fp), now)
			if err != nil {
				return err
			}
			if err := setKeyPair(st.data, kp, nextCACertKey, nextCAKeyKey); err != nil {
				return err
			}
			if st.startedAt() == nil {
				st.ann[RotationStartedAtAnnotation] = now.UTC().Format(time.RFC3339)
			}
		case pki.RotationDiscardNewCA:
			delete(st.data, nextCACertKey)
			delete(st.data, nextCAKeyKey)
			delete(st.ann, RotationStartedAtAnnotation)
		case pki.RotationPublishBothCAs:
			if err := r.ensureTrustBundle(ctx, s, st, now, st.activeCert, st.next.Certificate); err != nil {
				return err
			}
			if step.Phase == pki.RotationBundleExtended {
				// The token is acted on: recording it ends the request once the rollout is done.
				if token := fp.Annotations[ForceReplaceCAAnnotation]; token != "" {
					st.ann[ForceReplaceRecordedAnnotation] = token
				}
			}
		case pki.RotationSignWithNewCA:
		case pki.RotationPruneOldCA:
			if err := r.ensureTrustBundle(ctx, s, st, now, st.next.Certificate); err != nil {
				return err
			}
			st.data[pki.TLSCertKey], st.data[pki.TLSPrivateKeyKey] = st.data[nextCACertKey], st.data[nextCAKeyKey]
			delete(st.data, nextCACertKey)
			delete(st.data, nextCAKeyKey)
			st.ann[certs.CAGenerationAnnotation] = strconv.FormatInt(st.generation()+1, 10)
			delete(st.ann, RotationStartedAtAnnotation)
			delete(st.ann, certs.RepairedAnnotation)
		default:
			return fmt.Errorf("CA key replacement: unknown action %q", step.Action)
		}
		st.ann[RotationPhaseAnnotation] = string(step.Phase)
		if err := r.storeCA(ctx, fp, st); err != nil {
			return err
		}
		if step.Action != pki.RotationNoAction || step.Phase != phase {
			r.Recorder.Eventf(fp, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCARotation, "RotateCA",
				"CA key replacement (%s → %s): %s", phase, step.Phase, step.Message)
			log.FromContext(ctx).Info("CA key replacement step", "action", step.Action, "from", phase, "to", step.Phase, "caGeneration", st.generation())
		}
	}
	return nil
}

// observeRotation is pki.RotationObservation read from the state and the cluster.
func (r *Reconciler) observeRotation(ctx context.Context, s *scope, st *pkiState, now time.Time) (pki.RotationObservation, error) {
	fp := s.fp
	obs := pki.RotationObservation{NewCAStored: st.next != nil}
	if st.phase() == pki.RotationIdle {
		token := fp.Annotations[ForceReplaceCAAnnotation]
		dec, err := pki.DecideCA(pki.CAInput{
			Current: st.active, ParseErr: st.activeErr, Spec: caSpec(fp), Policy: rotationPolicy(fp),
			ForceReplaceToken: token, RecordedForceReplaceToken: st.ann[ForceReplaceRecordedAnnotation],
		}, now)
		if err != nil {
			return obs, err
		}
		obs.ReplaceRequested = dec.Action == pki.CAReplaceKey
	}
	if st.bundle != nil {
		obs.BundleHasOldCA = st.activeCert != nil && st.bundle.Contains(st.activeCert)
		obs.BundleHasNewCA = st.next != nil && st.bundle.Contains(st.next.Certificate)
	}
	if st.next != nil {
		extended, err := pki.NewTrustBundle(nonNil(st.activeCert, st.next.Certificate)...)
		if err != nil {
			return obs, err
		}
		obs.ConsumersHaveNewCA = rolledOut(st.deployment, TrustBundleHashAnnotation, bundleHash(extended.PEM()))
		signed, err := r.leavesIssuedBy(ctx, fp, st, st.next.Certificate)
		if err != nil {
			return obs, err
		}
		obs.LeavesSignedByNewCA = signed
		// The gateway is the only workload serving this CA's leaves.
		obs.LeavesObserved = rolledOut(st.deployment, ServingCertificateAnnotation, fingerprint(st.servingCertificate(fp)))
	}
	return obs, nil
}

func nonNil(certs ...*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// rolledOut reports whether every gateway pod was started from a pod template whose
// annotation is value (a trust bundle hash, a serving certificate fingerprint): the
// template carries it and the Deployment has fully rolled that template out (every
// replica updated and available), so no pod started from an older template is left.
// A pod loads its mounted Secrets when it starts; a running pod sees later Secret
// updates only after the kubelet's sync delay, so only a rollout proves what it loaded.
func rolledOut(dep *appsv1.Deployment, annotation, value string) bool {
	if dep == nil || value == "" || dep.Spec.Template.Annotations[annotation] != value {
		return false
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	return st.ObservedGeneration >= dep.Generation &&
		st.Replicas == want && st.UpdatedReplicas == want && st.AvailableReplicas == want
}

// leavesIssuedBy reports whether every leaf Secret labelled with this CA holds a
// certificate issued by ca. Leaves written in this reconcile are taken from st, because
// a cached list may not show them yet.
func (r *Reconciler) leavesIssuedBy(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, st *pkiState, ca *x509.Certificate) (bool, error) {
	list := &corev1.SecretList{}
	if err := r.List(ctx, list, client.InNamespace(fp.Namespace), client.MatchingLabels{certs.IssuerLabel: CASecretName(fp)}); err != nil {
		return false, fmt.Errorf("listing the CA's leaf Secrets: %w", err)
	}
	seen := map[string]bool{}
	check := func(leaf *x509.Certificate) bool {
		return leaf != nil && bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) && leaf.CheckSignatureFrom(ca) == nil
	}
	for name, res := range st.leaves {
		seen[name] = true
		if !check(res.Certificate) {
			return false, nil
		}
	}
	for i := range list.Items {
		sec := &list.Items[i]
		if !seen[sec.Name] && !check(leafCertificate(sec)) {
			return false, nil
		}
	}
	return true, nil
}

// leafCertificate is the first certificate under tls.crt; nil when there is none
// (a damaged leaf is re-issued, so it counts as not yet signed by any CA).
func leafCertificate(sec *corev1.Secret) *x509.Certificate {
	cs, err := pki.ParseCertificatesPEM(sec.Data[pki.TLSCertKey])
	if err != nil || len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// fingerprint is cert's SHA-256 fingerprint as status reports it; empty for nil.
func fingerprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	return pki.FactsOf(cert, 0).SHA256Fingerprint
}

// templateServingCertificate is the serving certificate fingerprint the gateway pod
// template must carry in phase: the re-issued leaf's while the key replacement waits
// for every gateway pod to load it (LeavesReissued), so that rolling that template out
// proves no pod still presents the leaf signed by the old CA; empty in every other
// phase, so that an ordinary renewal, which the pods pick up without a restart, never
// rolls them.
func templateServingCertificate(phase pki.RotationPhase, serving *x509.Certificate) string {
	if phase != pki.RotationLeavesReissued {
		return ""
	}
	return fingerprint(serving)
}

// signingCA is the CA leaves are issued from in the recorded phase.
func signingCA(fp *cybercoopv1alpha1.FocalPoint, st *pkiState) certs.CA {
	ca := certs.CA{SecretName: CASecretName(fp), Certificate: st.activeCert, KeyPair: st.active, Generation: st.generation(), Bundle: st.bundlePEM}
	if st.phase().SignsWithNewCA() && st.next != nil {
		ca.Certificate, ca.KeyPair, ca.Generation = st.next.Certificate, st.next, st.generation()+1
	}
	return ca
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
	if c := fp.Spec.Certificates; c != nil {
		spec.KeyAlgorithm = pki.KeyAlgorithm(c.KeyAlgorithm)
		if c.LeafDuration != nil {
			spec.Duration = c.LeafDuration.Duration
		}
		if c.LeafRenewBefore != nil {
			spec.RenewBefore = c.LeafRenewBefore.Duration
		}
	}
	return certs.Leaf{
		SecretName: GatewayTLSSecretName(fp), Role: roleGatewayServing, Spec: spec,
		ForceRenewToken: fp.Annotations[ForceRenewAnnotation], Labels: commonLabels(fp),
	}
}

// ensureLeaves issues or renews the FocalPoint's own leaves from the signing CA.
func (r *Reconciler) ensureLeaves(ctx context.Context, s *scope, st *pkiState, now time.Time) error {
	ca := signingCA(s.fp, st)
	if ca.Certificate == nil {
		return fmt.Errorf("no usable CA certificate to check leaves against")
	}
	issuer := certs.Issuer{Client: r.Client, Scheme: r.Scheme, Recorder: r.Recorder}
	leaf := gatewayLeaf(s.fp)
	res, err := issuer.EnsureLeaf(ctx, s.fp, leaf, ca, now)
	if err != nil {
		return err
	}
	st.leaves[leaf.SecretName] = res
	return nil
}

// reconcileCertificates keeps the national CA, the trust bundle and the FocalPoint's
// leaves valid, and drives a CA key replacement; with spec.certificates.issuerRef,
// cert-manager issues the leaves instead (reconcileIssuedCertificates). It fills s.certs for status, events
// and requeueing, also when it fails half-way.
func (r *Reconciler) reconcileCertificates(ctx context.Context, s *scope) error {
	now := r.now()
	st, err := r.loadPKI(ctx, s.fp)
	if err != nil {
		return err
	}
	defer s.certs.observe(s.fp, st)
	// Also after a failure half-way: the pod template follows the phase, never a guess.
	defer func() { s.servingCertificate = templateServingCertificate(st.phase(), st.servingCertificate(s.fp)) }()
	if st.deployment != nil {
		s.templateBundleHash = st.deployment.Spec.Template.Annotations[TrustBundleHashAnnotation]
		s.templateServingCertificate = st.deployment.Spec.Template.Annotations[ServingCertificateAnnotation]
	}
	if st.bundleLive != nil && len(st.bundleLive.Data[pki.CACertKey]) > 0 {
		s.bundleHash = bundleHash(st.bundleLive.Data[pki.CACertKey])
	}
	if issuerRefOf(s.fp) != nil {
		return r.reconcileIssuedCertificates(ctx, s, st, now)
	}
	ok, err := r.reconcileCA(ctx, s, st, now)
	if err != nil || !ok {
		return err
	}
	if err := r.advanceRotation(ctx, s, st, now); err != nil {
		return err
	}
	if err := r.ensureTrustBundle(ctx, s, st, now, desiredBundleCAs(st)...); err != nil {
		return err
	}
	if err := r.ensureLeaves(ctx, s, st, now); err != nil {
		return err
	}
	// Re-issued leaves move the rollout to LeavesReissued, which waits for the gateway
	// to load them; once it has, the old CA is pruned and the leaves get the pruned
	// bundle under ca.crt in the same reconcile.
	before := s.bundleHash
	if err := r.advanceRotation(ctx, s, st, now); err != nil {
		return err
	}
	if s.bundleHash != before {
		return r.ensureLeaves(ctx, s, st, now)
	}
	return nil
}
