// Package ca runs a national CA as a part every kind uses. It knows no kind: the
// resource that owns the CA (a FocalPoint) describes it as an Authority, and every
// other resource that needs a certificate from it, or trusts it, uses the calls
// here.
//
// The CA lives in a Secret whose annotations also record the phase of a CA key
// replacement, written in the same update as the key material the phase describes,
// so an operator restarted at any point resumes the rollout from what is stored.
// The trust bundle (every CA certificate consumers must trust right now) is a
// second Secret. Leaves issued from the CA carry certs.IssuerLabel naming the CA
// Secret, so a key replacement can list them all, whoever owns them.
//
// A consumer is any Deployment or StatefulSet, of any kind, labelled TrustsCALabel
// with the CA Secret's name: its pods mount the trust bundle, and, when it carries
// ServesCertificateAnnotation, serve a leaf of the CA. ConsumerTemplateAnnotations
// gives the pod template annotations that make a finished rollout of the workload
// prove what its pods loaded; a key replacement waits for every consumer.
package ca

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// The consumer contract: labels and annotations a workload carries to take part in
// its CA's key replacements.
const (
	// TrustsCALabel on a Deployment or StatefulSet names the CA Secret whose trust
	// bundle its pods mount. Every such workload in the namespace is a consumer of
	// that CA: a key replacement moves on only once each has rolled out.
	TrustsCALabel = "cybercoop.io/trusts-ca"
	// ServesCertificateAnnotation on a consumer workload names the leaf Secret (issued
	// from the CA) its pods serve. The old CA is pruned only after every such workload
	// has rolled out a pod template naming the leaf re-issued from the new CA.
	ServesCertificateAnnotation = "cybercoop.io/serves-certificate"
	// TrustBundleHashAnnotation is the SHA-256 of the trust bundle PEM: on the bundle
	// Secret (what the operator wrote, so an edit is recognised) and on a consumer's
	// pod template (which bundle its pods were started with; a completed rollout of
	// that template is how the operator knows every pod has loaded the bundle).
	TrustBundleHashAnnotation = "cybercoop.io/trust-bundle-hash"
	// ServingCertificateAnnotation is the SHA-256 fingerprint of the leaf a consumer
	// serves, on its pod template, set only while a key replacement waits for the
	// consumers to load the leaves re-issued from the new CA (phase LeavesReissued).
	// Running pods see an updated Secret only after the kubelet's sync delay, so a
	// completed rollout of a template naming the fingerprint is how the operator
	// knows that no pod still presents a leaf signed by the old CA.
	ServingCertificateAnnotation = "cybercoop.io/serving-certificate-sha256"
)

// Annotations the operator records on the CA Secret.
const (
	// RotationPhaseAnnotation is the CA key replacement's phase (pki.RotationPhase).
	RotationPhaseAnnotation = "cybercoop.io/ca-rotation-phase"
	// RotationStartedAtAnnotation is when the replacement began, RFC 3339.
	RotationStartedAtAnnotation = "cybercoop.io/ca-rotation-started-at"
	// ForceReplaceRecordedAnnotation is the force-replace token already acted on.
	ForceReplaceRecordedAnnotation = "cybercoop.io/force-replace-ca-token"
)

// CA Secret data keys of the replacement CA while a key replacement is under way
// (tls.crt and tls.key hold the active CA).
const (
	NextCACertKey = "next.crt"
	NextCAKeyKey  = "next.key"
)

// Ref names a national CA: its Secret and its trust bundle's, in one namespace.
type Ref struct {
	Namespace        string
	SecretName       string
	BundleSecretName string
}

// State is a CA, its trust bundle and the leaves ensured with it, as read at the
// start of a reconcile and kept up to date with every write, so one reconcile can
// take several rotation steps without re-reading through a cache that may lag.
type State struct {
	ref Ref

	caLive *corev1.Secret
	data   map[string][]byte // CA Secret data being built
	ann    map[string]string // CA Secret cybercoop.io/ annotations being built

	active     *pki.KeyPair      // usable active CA; nil when missing or unusable
	activeErr  error             // why active is nil
	activeCert *x509.Certificate // the active CA certificate, even when its key is unusable
	next       *pki.KeyPair      // the replacement CA during a key replacement
	nextErr    error

	bundleLive *corev1.Secret
	bundle     *pki.TrustBundle // live bundle; nil when missing or unusable
	bundlePEM  []byte           // bundle as ensured in this reconcile

	// leaves are the leaves ensured in this reconcile, by Secret name.
	leaves map[string]certs.LeafResult

	// CALost explains why the CA cannot be used and what a person must do; empty
	// when the CA is usable.
	CALost string
	// RotationMessage says what the key replacement did or waits for.
	RotationMessage string
	// WaitingForPeers names the peers that hold the key replacement back: they have
	// not yet accepted the new CA (Authority.Peers).
	WaitingForPeers []string
}

// Load reads the CA Secret and the trust bundle Secret.
func Load(ctx context.Context, c client.Client, ref Ref) (*State, error) {
	st := &State{ref: ref, data: map[string][]byte{}, ann: map[string]string{}, leaves: map[string]certs.LeafResult{}}
	var err error
	if st.caLive, err = certs.GetSecret(ctx, c, ref.Namespace, ref.SecretName); err != nil {
		return nil, err
	}
	if st.caLive != nil {
		maps.Copy(st.data, st.caLive.Data)
		for k, v := range st.caLive.Annotations {
			if strings.HasPrefix(k, "cybercoop.io/") {
				st.ann[k] = v
			}
		}
	}
	st.parse()
	if st.bundleLive, err = certs.GetSecret(ctx, c, ref.Namespace, ref.BundleSecretName); err != nil {
		return nil, err
	}
	if st.bundleLive != nil {
		st.bundle, _ = pki.ParseTrustBundle(st.bundleLive.Data[pki.CACertKey])
		st.bundlePEM = st.bundleLive.Data[pki.CACertKey]
	}
	return st, nil
}

func (st *State) parse() {
	kp, err := pki.ParseCASecret(map[string][]byte{pki.TLSCertKey: st.data[pki.TLSCertKey], pki.TLSPrivateKeyKey: st.data[pki.TLSPrivateKeyKey]})
	st.active, st.activeErr = kp, err
	st.activeCert = nil
	if kp != nil {
		st.activeCert = kp.Certificate
	} else if cs, err := pki.ParseCertificatesPEM(st.data[pki.TLSCertKey]); err == nil && len(cs) == 1 && cs[0].IsCA {
		st.activeCert = cs[0]
	}
	st.next, st.nextErr = nil, nil
	if len(st.data[NextCACertKey]) > 0 || len(st.data[NextCAKeyKey]) > 0 {
		kp, err := pki.ParseCASecret(map[string][]byte{pki.TLSCertKey: st.data[NextCACertKey], pki.TLSPrivateKeyKey: st.data[NextCAKeyKey]})
		if err != nil {
			st.nextErr = fmt.Errorf("the replacement CA (%s, %s) is unusable: %w", NextCACertKey, NextCAKeyKey, err)
		}
		st.next = kp
	}
}

// Generation is the active CA key's generation: 1 for the first, one more after
// each key replacement.
func (st *State) Generation() int64 {
	g, err := strconv.ParseInt(st.ann[certs.CAGenerationAnnotation], 10, 64)
	if err != nil || g < 1 {
		return 1
	}
	return g
}

// Phase is the recorded phase of a key replacement; Idle when none is under way.
func (st *State) Phase() pki.RotationPhase {
	if p := pki.RotationPhase(st.ann[RotationPhaseAnnotation]); p != "" {
		return p
	}
	return pki.RotationIdle
}

// StartedAt is when the key replacement under way began; nil when none is.
func (st *State) StartedAt() *time.Time {
	t, err := time.Parse(time.RFC3339, st.ann[RotationStartedAtAnnotation])
	if err != nil {
		return nil
	}
	return &t
}

// BundlePEM is the trust bundle as published (or as ensured in this reconcile).
func (st *State) BundlePEM() []byte { return st.bundlePEM }

// BundleHash is the SHA-256 of the published trust bundle, the value consumer pod
// templates carry in TrustBundleHashAnnotation; empty when none is published.
func (st *State) BundleHash() string {
	if len(st.bundlePEM) == 0 {
		return ""
	}
	return BundleHash(st.bundlePEM)
}

// HasBundle reports whether a usable trust bundle with at least one CA is published.
func (st *State) HasBundle() bool { return st.bundle != nil && st.bundle.Len() > 0 }

// Leaf is the leaf ensured in this reconcile under Secret name, if any.
func (st *State) Leaf(name string) (certs.LeafResult, bool) {
	res, ok := st.leaves[name]
	return res, ok
}

// PublishedNextCA is the replacement CA once the trust bundle publishes it beside the
// active one (a key replacement from BundleExtended on), nil otherwise. A channel's
// probe presents a certificate from it to learn whether the peer accepts it yet.
func (st *State) PublishedNextCA() *pki.KeyPair {
	if st.next == nil || st.bundle == nil || !st.bundle.Contains(st.next.Certificate) {
		return nil
	}
	return st.next
}

// SigningCA is the CA leaves are issued from in the recorded phase: the old CA until
// every consumer trusts the new one, then the new CA.
func (st *State) SigningCA() certs.CA {
	ca := certs.CA{SecretName: st.ref.SecretName, Certificate: st.activeCert, KeyPair: st.active, Generation: st.Generation(), Bundle: st.bundlePEM}
	if st.Phase().SignsWithNewCA() && st.next != nil {
		ca.Certificate, ca.KeyPair, ca.Generation = st.next.Certificate, st.next, st.Generation()+1
	}
	return ca
}

// Report fills the CA part of a certificate report: the CA certificate, the trust
// bundle, the rotation and the Secrets found tampered with and repaired.
func (st *State) Report(rep *certs.Report, renewBefore time.Duration) {
	rep.Observed = true
	rep.OwnsCA = true
	rep.Phase, rep.StartedAt, rep.RotationMessage, rep.CALost = st.Phase(), st.StartedAt(), st.RotationMessage, st.CALost
	rep.WaitingForPeers = st.WaitingForPeers
	rep.CA = nil
	if st.activeCert != nil {
		rep.CA = &certs.Observed{Role: certs.RoleCA, SecretName: st.ref.SecretName, Certificate: st.activeCert,
			RenewBefore: renewBefore, Generation: st.Generation()}
	}
	rep.AddRepair(st.ref.SecretName, st.caLive)
	st.ReportBundle(rep)
}

// ReportBundle fills the trust bundle part of a certificate report.
func (st *State) ReportBundle(rep *certs.Report) {
	rep.Bundle = nil
	if st.bundleLive == nil {
		return
	}
	data := st.bundleLive.Data[pki.CACertKey]
	count := 0
	if b, err := pki.ParseTrustBundle(data); err == nil {
		count = b.Len()
	}
	rep.Bundle = &cybercoopv1alpha1.TrustBundleStatus{SecretName: st.bundleLive.Name, CACount: int32(count), SHA256: BundleHash(data)}
	rep.AddRepair(st.bundleLive.Name, st.bundleLive)
}

// BundleHash is the SHA-256 of a trust bundle's PEM bytes in lowercase hex.
func BundleHash(pem []byte) string {
	sum := sha256.Sum256(pem)
	return hex.EncodeToString(sum[:])
}

// Fingerprint is cert's SHA-256 fingerprint as status reports it; empty for nil.
func Fingerprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	return pki.FactsOf(cert, 0).SHA256Fingerprint
}
