package ca

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
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
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// Authority is a national CA as its owner declares it.
type Authority struct {
	Ref
	// Owner owns the CA and trust bundle Secrets; events about the CA go to it.
	Owner client.Object
	// Spec is the desired CA.
	Spec pki.CASpec
	// Policy says what a due CA renewal does: keep the key or replace it.
	Policy pki.RotationPolicy
	// ForceReplaceToken is the owner's cybercoop.io/force-replace-ca value.
	ForceReplaceToken string
	// KnownGeneration is the CA generation the owner last reported, 0 when it never
	// reported a CA: a missing CA Secret of a known CA is a lost CA, not a first
	// start, and replacing it would silently break trust with every peer.
	KnownGeneration int64
	// BundlePublished is whether the owner last reported a published trust bundle,
	// so a deleted bundle Secret is reported as tampering.
	BundlePublished bool
	// Labels go on the CA and trust bundle Secrets.
	Labels map[string]string
	// Peers, if set, holds a key replacement before any leaf is signed by the new CA
	// until every peer State accepts that CA. It returns the names of those that do
	// not yet (for a FocalPoint: the CooperationChannels whose probe has not yet
	// completed a handshake at the peer with a certificate from the new CA). The hold
	// ends PeerWaitLimit before the old CA expires, since waiting longer would break
	// every channel anyway.
	Peers func(ctx context.Context, newCA *x509.Certificate) (waiting []string, err error)
}

// PeerWaitLimit is how long before the old CA's expiry a key replacement stops
// waiting for peers to accept the new CA.
const PeerWaitLimit = 7 * 24 * time.Hour

// Keeper keeps national CAs: it creates, renews and repairs them, publishes their
// trust bundles, drives key replacements across every consumer, and issues leaves.
type Keeper struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
}

// Reconcile keeps a's CA valid, drives a key replacement, publishes the trust
// bundle and ensures the owner's own leaves (issued in the middle of a
// replacement, which waits for them). It returns the state also when it fails
// half-way, for status; st.CALost is set when nothing more may be done until a
// person acts.
func (k *Keeper) Reconcile(ctx context.Context, a Authority, own []certs.Leaf, now time.Time) (*State, error) {
	st, err := Load(ctx, k.Client, a.Ref)
	if err != nil {
		return nil, err
	}
	ok, err := k.reconcileCA(ctx, a, st, now)
	if err != nil || !ok {
		return st, err
	}
	if err := k.advanceRotation(ctx, a, st, now); err != nil {
		return st, err
	}
	if err := k.PublishBundle(ctx, a, st, now, desiredBundleCAs(st)...); err != nil {
		return st, err
	}
	if err := k.ensureOwnLeaves(ctx, a, st, own, now); err != nil {
		return st, err
	}
	// Re-issued leaves move the rollout to LeavesReissued, which waits for the
	// consumers to load them; once they have, the old CA is pruned and the leaves get
	// the pruned bundle under ca.crt in the same reconcile.
	before := st.BundleHash()
	if err := k.advanceRotation(ctx, a, st, now); err != nil {
		return st, err
	}
	if st.BundleHash() != before {
		return st, k.ensureOwnLeaves(ctx, a, st, own, now)
	}
	return st, nil
}

func (k *Keeper) ensureOwnLeaves(ctx context.Context, a Authority, st *State, own []certs.Leaf, now time.Time) error {
	ca := st.SigningCA()
	if ca.Certificate == nil {
		return fmt.Errorf("no usable CA certificate to check leaves against")
	}
	issuer := certs.Issuer{Client: k.Client, Scheme: k.Scheme, Recorder: k.Recorder}
	for _, leaf := range own {
		res, err := issuer.EnsureLeaf(ctx, a.Owner, leaf, ca, now)
		if err != nil {
			return err
		}
		st.leaves[leaf.SecretName] = res
	}
	return nil
}

// ErrNotIssued matches the error of EnsureLeaves while the CA or its trust bundle
// has not been written yet: its owner's first reconcile has not got that far.
var ErrNotIssued = errors.New("the CA has not been issued yet")

type notIssued string

func (e notIssued) Error() string        { return string(e) }
func (e notIssued) Is(target error) bool { return target == ErrNotIssued }

// EnsureLeaves keeps leaves of the CA ref valid for owner, whatever its kind: it
// reads the CA and its trust bundle once and issues from the CA the key
// replacement's phase says, so the leaves take part in every replacement. A leaf is
// kept while it is valid and issued by that CA; the CA's owner hears of a re-issued
// leaf through its Secret's IssuerLabel, which its key replacement lists. The
// results are in the order of leaves; a leaf that failed has an empty result, and
// the first error is returned after every leaf was tried.
func (k *Keeper) EnsureLeaves(ctx context.Context, owner client.Object, ref Ref, leaves []certs.Leaf, now time.Time) ([]certs.LeafResult, *State, error) {
	st, err := Load(ctx, k.Client, ref)
	if err != nil {
		return nil, nil, err
	}
	ca := st.SigningCA()
	switch {
	case ca.Certificate == nil:
		return nil, st, notIssued(fmt.Sprintf("the national CA in Secret %s has no usable certificate yet", ref.SecretName))
	case !st.HasBundle():
		return nil, st, notIssued(fmt.Sprintf("the trust bundle in Secret %s is not published yet", ref.BundleSecretName))
	}
	issuer := certs.Issuer{Client: k.Client, Scheme: k.Scheme, Recorder: k.Recorder}
	results := make([]certs.LeafResult, len(leaves))
	var firstErr error
	for i, leaf := range leaves {
		res, err := issuer.EnsureLeaf(ctx, owner, leaf, ca, now)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		results[i] = res
		st.leaves[leaf.SecretName] = res
	}
	return results, st, firstErr
}

// EnsureLeaf is EnsureLeaves for one leaf.
func (k *Keeper) EnsureLeaf(ctx context.Context, owner client.Object, ref Ref, leaf certs.Leaf, now time.Time) (certs.LeafResult, *State, error) {
	results, st, err := k.EnsureLeaves(ctx, owner, ref, []certs.Leaf{leaf}, now)
	if len(results) == 0 {
		return certs.LeafResult{}, st, err
	}
	return results[0], st, err
}

// store writes the CA Secret as built in st, then re-derives the key pairs from it.
func (k *Keeper) store(ctx context.Context, a Authority, st *State) error {
	desired := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: st.data}
	desired.Name, desired.Namespace = a.SecretName, a.Namespace
	desired.Labels = secretLabels(a, "ca")
	desired.Annotations = st.ann
	stored, _, err := certs.ApplySecret(ctx, k.Client, k.Scheme, a.Owner, st.caLive, desired)
	if err != nil {
		if apierrors.IsConflict(err) {
			return err // a newer version is on its way; retried with backoff
		}
		k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRenewalFailed, "StoreCA",
			"the CA could not be stored in Secret %s: %v", desired.Name, err)
		return err
	}
	st.caLive = stored
	st.parse()
	return nil
}

func secretLabels(a Authority, role string) map[string]string {
	l := maps.Clone(a.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l["app.kubernetes.io/component"] = "pki"
	l[certs.RoleLabel] = role
	return l
}

// setKeyPair puts kp into the CA Secret data under certKey and keyKey.
func setKeyPair(data map[string][]byte, kp *pki.KeyPair, certKey, keyKey string) error {
	key, err := kp.PrivateKeyPEM()
	if err != nil {
		return err
	}
	data[certKey], data[keyKey] = kp.CertificatePEM(), key
	return nil
}

// hadCA reports whether the CA existed before, so a missing CA Secret is a lost CA.
func hadCA(a Authority, st *State) bool {
	return a.KnownGeneration > 0 || st.HasBundle()
}

func previousGeneration(a Authority) int64 { return max(a.KnownGeneration, 1) }

// reconcileCA creates, renews or repairs the active CA. It returns false when the CA
// is lost and nothing more may be done until a person acts.
func (k *Keeper) reconcileCA(ctx context.Context, a Authority, st *State, now time.Time) (bool, error) {
	approved := a.ForceReplaceToken != "" && a.ForceReplaceToken != st.ann[ForceReplaceRecordedAnnotation]
	if st.active == nil && st.activeErr != nil {
		k.restoreCACertificate(ctx, a, st, now)
	}
	dec, err := decideCA(a, st, now)
	if err != nil {
		return false, err
	}
	switch dec.Action {
	case pki.CACreate:
		if hadCA(a, st) && !approved {
			st.CALost = fmt.Sprintf("Secret %s is gone although this %s had a CA (generation %d); no new CA is created automatically, "+
				"because peers trust the old one: restore the Secret from a backup, or approve a new CA key with the annotation %s=<token> "+
				"(every certificate is then re-issued and peers must be given the new trust bundle)",
				a.SecretName, kindOf(a.Owner, k.Scheme), previousGeneration(a), cybercoopv1alpha1.ForceReplaceCAAnnotation)
			k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCAKeyLost, "CheckCA", "%s", st.CALost)
			return false, nil
		}
		kp, err := pki.CreateCA(a.Spec, now)
		if err != nil {
			return false, err
		}
		gen := int64(1)
		if hadCA(a, st) {
			gen = previousGeneration(a) + 1
		}
		st.data = map[string][]byte{}
		if err := setKeyPair(st.data, kp, pki.TLSCertKey, pki.TLSPrivateKeyKey); err != nil {
			return false, err
		}
		st.ann = map[string]string{certs.CAGenerationAnnotation: strconv.FormatInt(gen, 10), RotationPhaseAnnotation: string(pki.RotationIdle)}
		if a.ForceReplaceToken != "" {
			st.ann[ForceReplaceRecordedAnnotation] = a.ForceReplaceToken
		}
		if err := k.store(ctx, a, st); err != nil {
			return false, err
		}
		facts := pki.FactsOf(kp.Certificate, a.Spec.EffectiveRenewBefore())
		k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCAIssued, "CreateCA",
			"created the national CA (generation %d) in Secret %s: serial %s, valid until %s", gen, a.SecretName, facts.SerialNumber, facts.NotAfter.UTC().Format(time.RFC3339))
		log.FromContext(ctx).Info("CA created", "secret", a.SecretName, "generation", gen, "serial", facts.SerialNumber, "notAfter", facts.NotAfter)
	case pki.CARenewKeepKey:
		renewed, err := pki.RenewCA(st.active, a.Spec.Duration, now)
		if err != nil {
			k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRenewalFailed, "RenewCA",
				"the CA certificate in Secret %s could not be renewed: %v", a.SecretName, err)
			return false, err
		}
		st.data[pki.TLSCertKey] = renewed.CertificatePEM()
		delete(st.ann, certs.RepairedAnnotation)
		if err := k.store(ctx, a, st); err != nil {
			return false, err
		}
		facts := pki.FactsOf(renewed.Certificate, a.Spec.EffectiveRenewBefore())
		k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCARenewed, "RenewCA",
			"renewed the CA certificate in Secret %s with the same key (%s): serial %s, valid until %s", a.SecretName, dec.Message,
			facts.SerialNumber, facts.NotAfter.UTC().Format(time.RFC3339))
		log.FromContext(ctx).Info("CA renewed", "secret", a.SecretName, "serial", facts.SerialNumber, "notAfter", facts.NotAfter)
	case pki.CAKeyLost:
		if st.Phase() != pki.RotationIdle {
			// A key replacement under way retires the unusable CA; let it finish.
			return true, nil
		}
		st.CALost = fmt.Sprintf("Secret %s: %s", a.SecretName, dec.Message)
		k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCAKeyLost, "CheckCA", "%s", st.CALost)
		return false, nil
	}
	return true, nil
}

// restoreCACertificate repairs a CA Secret whose certificate was damaged or swapped
// while its key is intact, from the trust bundle: the bundle holds the CA certificate
// for that key. Nothing changes for consumers, so this is safe to do unasked.
func (k *Keeper) restoreCACertificate(ctx context.Context, a Authority, st *State, now time.Time) {
	if st.bundle == nil {
		return
	}
	var found *pki.KeyPair
	for _, c := range st.bundle.Certificates() {
		kp, err := pki.ParseCASecret(map[string][]byte{pki.TLSCertKey: pki.EncodeCertificatesPEM(c), pki.TLSPrivateKeyKey: st.data[pki.TLSPrivateKeyKey]})
		if err == nil && (found == nil || kp.Certificate.NotAfter.After(found.Certificate.NotAfter)) {
			found = kp
		}
	}
	if found == nil {
		return
	}
	problem := st.activeErr.Error()
	st.data[pki.TLSCertKey] = found.CertificatePEM()
	st.ann[certs.RepairedAnnotation] = fmt.Sprintf("%s at %s: %s", pki.ReasonInvalid, now.UTC().Format(time.RFC3339), problem)
	if err := k.store(ctx, a, st); err != nil {
		return // reported by store; the decision that follows sees the damaged CA
	}
	k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRepaired, "RepairCA",
		"Secret %s (CA) was tampered with or damaged (%s); its key is intact, so the CA certificate was restored from the trust bundle",
		a.SecretName, problem)
}

// PublishBundle publishes cas as the trust bundle. An edit of the bundle Secret since
// the operator wrote it is reported and undone.
func (k *Keeper) PublishBundle(ctx context.Context, a Authority, st *State, now time.Time, cas ...*x509.Certificate) error {
	bundle, err := pki.NewTrustBundle(nonNil(cas...)...)
	if err != nil {
		return err
	}
	pem := bundle.PEM()
	hash := BundleHash(pem)
	desired := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{pki.CACertKey: pem}}
	desired.Name, desired.Namespace = a.BundleSecretName, a.Namespace
	desired.Labels = secretLabels(a, "trust-bundle")
	desired.Annotations = map[string]string{TrustBundleHashAnnotation: hash}

	var tampered string
	live := st.bundleLive
	switch {
	case live == nil && a.BundlePublished:
		tampered = "the Secret was deleted"
	case live != nil && live.Annotations[TrustBundleHashAnnotation] != "" &&
		BundleHash(live.Data[pki.CACertKey]) != live.Annotations[TrustBundleHashAnnotation]:
		tampered = "ca.crt was changed since the operator wrote it"
		if _, err := pki.ParseTrustBundle(live.Data[pki.CACertKey]); err != nil {
			tampered = err.Error()
		}
	}
	switch {
	case tampered != "":
		desired.Annotations[certs.RepairedAnnotation] = fmt.Sprintf("%s at %s: %s", pki.ReasonInvalid, now.UTC().Format(time.RFC3339), tampered)
	case live != nil && BundleHash(live.Data[pki.CACertKey]) == hash && live.Annotations[certs.RepairedAnnotation] != "":
		desired.Annotations[certs.RepairedAnnotation] = live.Annotations[certs.RepairedAnnotation]
	}
	stored, outcome, err := certs.ApplySecret(ctx, k.Client, k.Scheme, a.Owner, live, desired)
	if err != nil {
		return err
	}
	if tampered != "" && outcome != apply.Unchanged {
		k.Recorder.Eventf(a.Owner, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventTrustBundleRepaired, "RepairTrustBundle",
			"Secret %s (trust bundle) was tampered with or damaged (%s) and was published again with %d CA certificate(s)", a.BundleSecretName, tampered, bundle.Len())
	}
	st.bundleLive, st.bundle, st.bundlePEM = stored, bundle, pem
	return nil
}

// desiredBundleCAs are the CA certificates consumers must trust in the recorded phase:
// the active CA, plus the replacement CA once it has been published.
func desiredBundleCAs(st *State) []*x509.Certificate {
	cas := []*x509.Certificate{st.activeCert}
	if st.next != nil && st.Phase() != pki.RotationIdle {
		cas = append(cas, st.next.Certificate)
	}
	return cas
}

func nonNil(cs ...*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range cs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

func kindOf(obj runtime.Object, scheme *runtime.Scheme) string {
	if scheme != nil {
		if gvks, _, err := scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
			return gvks[0].Kind
		}
	}
	return "resource"
}

// decideCA is pki.DecideCA for the active CA as stored.
func decideCA(a Authority, st *State, now time.Time) (pki.CADecision, error) {
	return pki.DecideCA(pki.CAInput{
		Current: st.active, ParseErr: st.activeErr, Spec: a.Spec, Policy: a.Policy,
		ForceReplaceToken: a.ForceReplaceToken, RecordedForceReplaceToken: st.ann[ForceReplaceRecordedAnnotation],
	}, now)
}
