package focalpoint

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// Annotations users set on a FocalPoint to ask for certificate work.
const (
	// ForceRenewAnnotation re-issues every leaf of the FocalPoint once each time its
	// value changes, e.g. cybercoop.io/force-renew=2026-11-20.
	ForceRenewAnnotation = "cybercoop.io/force-renew"
	// ForceReplaceCAAnnotation replaces the CA key through the phased rollout once each
	// time its value changes. It is also how a person approves a new CA after the old
	// key was lost (CertificateReady reason CAKeyLost).
	ForceReplaceCAAnnotation = "cybercoop.io/force-replace-ca"
)

// Annotations the operator records on the CA Secret. The rotation phase lives here,
// written in the same update as the key material it describes, so an operator
// restarted at any point resumes the rollout from what is stored.
const (
	// RotationPhaseAnnotation is the CA key replacement's phase (pki.RotationPhase).
	RotationPhaseAnnotation = "cybercoop.io/ca-rotation-phase"
	// RotationStartedAtAnnotation is when the replacement began, RFC 3339.
	RotationStartedAtAnnotation = "cybercoop.io/ca-rotation-started-at"
	// ForceReplaceRecordedAnnotation is the force-replace token already acted on.
	ForceReplaceRecordedAnnotation = "cybercoop.io/force-replace-ca-token"
	// TrustBundleHashAnnotation is the SHA-256 of the trust bundle PEM: on the bundle
	// Secret (what the operator wrote, so an edit is recognised) and on the gateway pod
	// template (which bundle the pods were started with; a completed rollout of that
	// template is how the operator knows every gateway pod has loaded the bundle).
	TrustBundleHashAnnotation = "cybercoop.io/trust-bundle-hash"
	// ServingCertificateAnnotation is the SHA-256 fingerprint of the gateway's serving
	// certificate on the gateway pod template, set only while a CA key replacement
	// waits for the gateway to load the leaf re-issued from the new CA (phase
	// LeavesReissued). Running pods see an updated Secret only after the kubelet's
	// sync delay, so a completed rollout of a template naming the fingerprint is how
	// the operator knows that no pod still presents the leaf signed by the old CA
	// before it prunes that CA from the trust bundle.
	ServingCertificateAnnotation = "cybercoop.io/serving-certificate-sha256"
)

// CA Secret data keys of the replacement CA while a key replacement is under way.
const (
	nextCACertKey = "next.crt"
	nextCAKeyKey  = "next.key"
)

// CASecretName is the Secret holding the FocalPoint's national CA key pair.
func CASecretName(fp *cybercoopv1alpha1.FocalPoint) string { return fp.Name + "-ca" }

// TrustBundleSecretName is the Secret whose ca.crt holds every CA certificate consumers trust.
func TrustBundleSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return fp.Name + "-trust-bundle" }

// GatewayTLSSecretName is the gateway's serving certificate Secret (kubernetes.io/tls).
func GatewayTLSSecretName(fp *cybercoopv1alpha1.FocalPoint) string { return gatewayName(fp) + "-tls" }

// pkiState is the CA, trust bundle and consumers as read at the start of a reconcile
// and kept up to date with every write, so one reconcile can take several rotation
// steps without re-reading through a cache that may lag.
type pkiState struct {
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

	deployment *appsv1.Deployment
	leaves     map[string]certs.LeafResult // leaves ensured in this reconcile, by Secret name
	leafLive   map[string]storedLeaf       // leaves as read, for status when they are not ensured
}

// storedLeaf is a leaf certificate as read from its Secret.
type storedLeaf struct {
	cert       *x509.Certificate
	generation int64
}

func (st *pkiState) parse() {
	st.active, st.activeErr = nil, nil
	kp, err := pki.ParseCASecret(map[string][]byte{pki.TLSCertKey: st.data[pki.TLSCertKey], pki.TLSPrivateKeyKey: st.data[pki.TLSPrivateKeyKey]})
	st.active, st.activeErr = kp, err
	st.activeCert = nil
	if kp != nil {
		st.activeCert = kp.Certificate
	} else if cs, err := pki.ParseCertificatesPEM(st.data[pki.TLSCertKey]); err == nil && len(cs) == 1 && cs[0].IsCA {
		st.activeCert = cs[0]
	}
	st.next, st.nextErr = nil, nil
	if len(st.data[nextCACertKey]) > 0 || len(st.data[nextCAKeyKey]) > 0 {
		kp, err := pki.ParseCASecret(map[string][]byte{pki.TLSCertKey: st.data[nextCACertKey], pki.TLSPrivateKeyKey: st.data[nextCAKeyKey]})
		if err != nil {
			st.nextErr = fmt.Errorf("the replacement CA (%s, %s) is unusable: %w", nextCACertKey, nextCAKeyKey, err)
		}
		st.next = kp
	}
}

func (st *pkiState) generation() int64 {
	g, err := strconv.ParseInt(st.ann[certs.CAGenerationAnnotation], 10, 64)
	if err != nil || g < 1 {
		return 1
	}
	return g
}

// servingCertificate is the gateway's serving certificate: as ensured in this
// reconcile, or as read.
func (st *pkiState) servingCertificate(fp *cybercoopv1alpha1.FocalPoint) *x509.Certificate {
	name := GatewayTLSSecretName(fp)
	if res, ok := st.leaves[name]; ok && res.Certificate != nil {
		return res.Certificate
	}
	return st.leafLive[name].cert
}

func (st *pkiState) phase() pki.RotationPhase {
	if p := pki.RotationPhase(st.ann[RotationPhaseAnnotation]); p != "" {
		return p
	}
	return pki.RotationIdle
}

func (st *pkiState) startedAt() *time.Time {
	t, err := time.Parse(time.RFC3339, st.ann[RotationStartedAtAnnotation])
	if err != nil {
		return nil
	}
	return &t
}

// caSpec is the desired CA for fp.
func caSpec(fp *cybercoopv1alpha1.FocalPoint) pki.CASpec {
	spec := pki.CASpec{
		CommonName:   fmt.Sprintf("cybercoop %s national CA", fp.Spec.Country),
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

func rotationPolicy(fp *cybercoopv1alpha1.FocalPoint) pki.RotationPolicy {
	if fp.Spec.Certificates != nil && fp.Spec.Certificates.CARotationPolicy == cybercoopv1alpha1.CARotationReplaceKey {
		return pki.PolicyReplaceKey
	}
	return pki.PolicyRenewCertificate
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

func bundleHash(pem []byte) string {
	sum := sha256.Sum256(pem)
	return hex.EncodeToString(sum[:])
}

// loadPKI reads the CA Secret, the trust bundle Secret and the gateway Deployment.
func (r *Reconciler) loadPKI(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) (*pkiState, error) {
	st := &pkiState{data: map[string][]byte{}, ann: map[string]string{}, leaves: map[string]certs.LeafResult{}, leafLive: map[string]storedLeaf{}}
	var err error
	if st.caLive, err = certs.GetSecret(ctx, r.Client, fp.Namespace, CASecretName(fp)); err != nil {
		return nil, err
	}
	if st.caLive != nil {
		for k, v := range st.caLive.Data {
			st.data[k] = v
		}
		for k, v := range st.caLive.Annotations {
			if strings.HasPrefix(k, "cybercoop.io/") {
				st.ann[k] = v
			}
		}
	}
	st.parse()
	if st.bundleLive, err = certs.GetSecret(ctx, r.Client, fp.Namespace, TrustBundleSecretName(fp)); err != nil {
		return nil, err
	}
	if st.bundleLive != nil {
		st.bundle, _ = pki.ParseTrustBundle(st.bundleLive.Data[pki.CACertKey])
	}
	leafName := GatewayTLSSecretName(fp)
	leafSecret, err := certs.GetSecret(ctx, r.Client, fp.Namespace, leafName)
	if err != nil {
		return nil, err
	}
	if leafSecret != nil {
		if ls, err := pki.ParseLeafSecret(map[string][]byte{pki.TLSCertKey: leafSecret.Data[pki.TLSCertKey], pki.TLSPrivateKeyKey: leafSecret.Data[pki.TLSPrivateKeyKey]}); err == nil {
			gen, _ := strconv.ParseInt(leafSecret.Annotations[certs.CAGenerationAnnotation], 10, 64)
			st.leafLive[leafName] = storedLeaf{cert: ls.Certificate, generation: gen}
		}
	}
	dep := &appsv1.Deployment{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: gatewayName(fp)}, dep); err == nil {
		st.deployment = dep
	} else if client.IgnoreNotFound(err) != nil {
		return nil, fmt.Errorf("reading the gateway Deployment: %w", err)
	}
	return st, nil
}

// storeCA writes the CA Secret as built in st, then re-derives the key pairs from it.
func (r *Reconciler) storeCA(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, st *pkiState) error {
	desired := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: st.data}
	desired.Name, desired.Namespace = CASecretName(fp), fp.Namespace
	desired.Labels = pkiLabels(fp, "ca")
	desired.Annotations = st.ann
	stored, _, err := certs.ApplySecret(ctx, r.Client, r.Scheme, fp, st.caLive, desired)
	if err != nil {
		if apierrors.IsConflict(err) {
			return err // a newer version is on its way; retried with backoff
		}
		r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRenewalFailed, "StoreCA",
			"the CA could not be stored in Secret %s: %v", desired.Name, err)
		return err
	}
	st.caLive = stored
	st.parse()
	return nil
}

// pkiLabels label the FocalPoint's CA and trust bundle Secrets.
func pkiLabels(fp *cybercoopv1alpha1.FocalPoint, role string) map[string]string {
	l := commonLabels(fp)
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

// hadCA reports whether fp had a CA before, so a missing CA Secret is a lost CA, not a
// first start: replacing it would silently break trust with every peer.
func hadCA(fp *cybercoopv1alpha1.FocalPoint, st *pkiState) bool {
	return (fp.Status.Certificates != nil && fp.Status.Certificates.CA != nil) || (st.bundle != nil && st.bundle.Len() > 0)
}

// reconcileCA creates, renews or repairs the active CA. It returns false when the CA
// is lost and nothing more may be done until a person acts.
func (r *Reconciler) reconcileCA(ctx context.Context, s *scope, st *pkiState, now time.Time) (bool, error) {
	fp := s.fp
	spec := caSpec(fp)
	token := fp.Annotations[ForceReplaceCAAnnotation]
	approved := token != "" && token != st.ann[ForceReplaceRecordedAnnotation]

	if st.active == nil && st.activeErr != nil {
		r.restoreCACertificate(ctx, s, st, now)
	}
	dec, err := pki.DecideCA(pki.CAInput{
		Current: st.active, ParseErr: st.activeErr, Spec: spec, Policy: rotationPolicy(fp),
		ForceReplaceToken: token, RecordedForceReplaceToken: st.ann[ForceReplaceRecordedAnnotation],
	}, now)
	if err != nil {
		return false, err
	}
	caName := CASecretName(fp)
	switch dec.Action {
	case pki.CACreate:
		if hadCA(fp, st) && !approved {
			s.certs.caLost = fmt.Sprintf("Secret %s is gone although this FocalPoint had a CA (generation %d); no new CA is created automatically, "+
				"because peers trust the old one: restore the Secret from a backup, or approve a new CA key with the annotation %s=<token> "+
				"(every certificate is then re-issued and peers must be given the new trust bundle)", caName, previousGeneration(fp), ForceReplaceCAAnnotation)
			r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCAKeyLost, "CheckCA", "%s", s.certs.caLost)
			return false, nil
		}
		kp, err := pki.CreateCA(spec, now)
		if err != nil {
			return false, err
		}
		gen := int64(1)
		if hadCA(fp, st) {
			gen = previousGeneration(fp) + 1
		}
		st.data = map[string][]byte{}
		if err := setKeyPair(st.data, kp, pki.TLSCertKey, pki.TLSPrivateKeyKey); err != nil {
			return false, err
		}
		st.ann = map[string]string{certs.CAGenerationAnnotation: strconv.FormatInt(gen, 10), RotationPhaseAnnotation: string(pki.RotationIdle)}
		if token != "" {
			st.ann[ForceReplaceRecordedAnnotation] = token
		}
		if err := r.storeCA(ctx, fp, st); err != nil {
			return false, err
		}
		facts := pki.FactsOf(kp.Certificate, spec.EffectiveRenewBefore())
		r.Recorder.Eventf(fp, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCAIssued, "CreateCA",
			"created the national CA (generation %d) in Secret %s: serial %s, valid until %s", gen, caName, facts.SerialNumber, facts.NotAfter.UTC().Format(time.RFC3339))
		log.FromContext(ctx).Info("CA created", "secret", caName, "generation", gen, "serial", facts.SerialNumber, "notAfter", facts.NotAfter)
	case pki.CARenewKeepKey:
		renewed, err := pki.RenewCA(st.active, spec.Duration, now)
		if err != nil {
			r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRenewalFailed, "RenewCA",
				"the CA certificate in Secret %s could not be renewed: %v", caName, err)
			return false, err
		}
		st.data[pki.TLSCertKey] = renewed.CertificatePEM()
		delete(st.ann, certs.RepairedAnnotation)
		if err := r.storeCA(ctx, fp, st); err != nil {
			return false, err
		}
		facts := pki.FactsOf(renewed.Certificate, spec.EffectiveRenewBefore())
		r.Recorder.Eventf(fp, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventCARenewed, "RenewCA",
			"renewed the CA certificate in Secret %s with the same key (%s): serial %s, valid until %s", caName, dec.Message,
			facts.SerialNumber, facts.NotAfter.UTC().Format(time.RFC3339))
		log.FromContext(ctx).Info("CA renewed", "secret", caName, "serial", facts.SerialNumber, "notAfter", facts.NotAfter)
	case pki.CAKeyLost:
		if st.phase() != pki.RotationIdle {
			// A key replacement under way retires the unusable CA; let it finish.
			return true, nil
		}
		s.certs.caLost = fmt.Sprintf("Secret %s: %s", caName, dec.Message)
		r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCAKeyLost, "CheckCA", "%s", s.certs.caLost)
		return false, nil
	}
	return true, nil
}

func previousGeneration(fp *cybercoopv1alpha1.FocalPoint) int64 {
	if c := fp.Status.Certificates; c != nil && c.CA != nil {
		return c.CA.CAGeneration
	}
	return 1
}

// restoreCACertificate repairs a CA Secret whose certificate was damaged or swapped
// while its key is intact, from the trust bundle: the bundle holds the CA certificate
// for that key. Nothing changes for consumers, so this is safe to do unasked.
func (r *Reconciler) restoreCACertificate(ctx context.Context, s *scope, st *pkiState, now time.Time) {
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
	if err := r.storeCA(ctx, s.fp, st); err != nil {
		return // reported by storeCA; the decision below sees the damaged CA
	}
	r.Recorder.Eventf(s.fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventCertificateRepaired, "RepairCA",
		"Secret %s (CA) was tampered with or damaged (%s); its key is intact, so the CA certificate was restored from the trust bundle",
		CASecretName(s.fp), problem)
}

// ensureTrustBundle publishes cas as the trust bundle. An edit of the bundle Secret
// since the operator wrote it is reported and undone.
func (r *Reconciler) ensureTrustBundle(ctx context.Context, s *scope, st *pkiState, now time.Time, cas ...*x509.Certificate) error {
	fp := s.fp
	var present []*x509.Certificate
	for _, c := range cas {
		if c != nil {
			present = append(present, c)
		}
	}
	bundle, err := pki.NewTrustBundle(present...)
	if err != nil {
		return err
	}
	pem := bundle.PEM()
	hash := bundleHash(pem)
	name := TrustBundleSecretName(fp)
	desired := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{pki.CACertKey: pem}}
	desired.Name, desired.Namespace = name, fp.Namespace
	desired.Labels = pkiLabels(fp, "trust-bundle")
	desired.Annotations = map[string]string{TrustBundleHashAnnotation: hash}

	var tampered string
	live := st.bundleLive
	switch {
	case live == nil && fp.Status.Certificates != nil && fp.Status.Certificates.TrustBundle != nil:
		tampered = "the Secret was deleted"
	case live != nil && live.Annotations[TrustBundleHashAnnotation] != "" &&
		bundleHash(live.Data[pki.CACertKey]) != live.Annotations[TrustBundleHashAnnotation]:
		tampered = "ca.crt was changed since the operator wrote it"
		if _, err := pki.ParseTrustBundle(live.Data[pki.CACertKey]); err != nil {
			tampered = err.Error()
		}
	}
	switch {
	case tampered != "":
		desired.Annotations[certs.RepairedAnnotation] = fmt.Sprintf("%s at %s: %s", pki.ReasonInvalid, now.UTC().Format(time.RFC3339), tampered)
	case live != nil && bundleHash(live.Data[pki.CACertKey]) == hash && live.Annotations[certs.RepairedAnnotation] != "":
		desired.Annotations[certs.RepairedAnnotation] = live.Annotations[certs.RepairedAnnotation]
	}
	stored, outcome, err := certs.ApplySecret(ctx, r.Client, r.Scheme, fp, live, desired)
	if err != nil {
		return err
	}
	if tampered != "" && outcome != apply.Unchanged {
		r.Recorder.Eventf(fp, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventTrustBundleRepaired, "RepairTrustBundle",
			"Secret %s (trust bundle) was tampered with or damaged (%s) and was published again with %d CA certificate(s)", name, tampered, bundle.Len())
	}
	st.bundleLive, st.bundle, st.bundlePEM = stored, bundle, pem
	s.bundleHash = hash
	return nil
}

// desiredBundleCAs are the CA certificates consumers must trust in the recorded phase:
// the active CA, plus the replacement CA once it has been published.
func desiredBundleCAs(st *pkiState) []*x509.Certificate {
	cas := []*x509.Certificate{st.activeCert}
	if st.next != nil && st.phase() != pki.RotationIdle {
		cas = append(cas, st.next.Certificate)
	}
	return cas
}
