package evidencevault

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// defaultVerification is spec.verification.interval's default.
const defaultVerification = 24 * time.Hour

// integrityResult is what the checkpoint check found.
type integrityResult struct {
	// known is false when no checkpoint could be read and checked.
	known bool
	// consistent: the new checkpoint extends the recorded one.
	consistent bool
	// record is the checkpoint to record in status; nil keeps the recorded one.
	record *cybercoopv1alpha1.CheckpointStatus
	// problem says why the log is not consistent.
	problem string
}

// endpoint is the vault API's address.
func (r *Reconciler) endpoint(ev *cybercoopv1alpha1.EvidenceVault) string {
	if r.VaultEndpoint != nil {
		return r.VaultEndpoint(ev)
	}
	return fmt.Sprintf("https://%s:%d", ServiceHost(ev), APIPort)
}

// vaultClient is a client on the operator's certificate, trusting the FocalPoint's bundle.
func (r *Reconciler) vaultClient(s *scope) (*vaultclient.Client, error) {
	if s.ca == nil || !s.ca.HasBundle() {
		return nil, errors.New("the FocalPoint's trust bundle is not published yet")
	}
	sec := s.operatorClient.Secret
	if sec == nil || s.operatorClient.Certificate == nil {
		return nil, errors.New("the operator's client certificate for the vault is not issued yet")
	}
	cert, err := tls.X509KeyPair(sec.Data[pki.TLSCertKey], sec.Data[pki.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("the operator's client certificate in Secret %s: %w", sec.Name, err)
	}
	bundle, err := pki.ParseTrustBundle(s.ca.BundlePEM())
	if err != nil {
		return nil, fmt.Errorf("the FocalPoint's trust bundle: %w", err)
	}
	return vaultclient.New(r.endpoint(s.ev), ServiceHost(s.ev), cert, bundle.CertPool()), nil
}

// observeVault reads the vault's report and checks its newest checkpoint against the
// recorded one. An unreachable vault is not an error of the reconcile: the
// conditions that depend on it are Unknown, and it is asked again within
// unreachableRetry (a vault whose pod is starting answers soon), not only at the
// next poll.
func (r *Reconciler) observeVault(ctx context.Context, s *scope) error {
	s.RequeueAt(s.Now.Add(r.pollInterval()))
	c, err := r.vaultClient(s)
	if err != nil {
		s.vaultErr = err
		return nil //nolint:nilerr // reported through IntegrityVerified=Unknown; retried at the next poll, not with backoff
	}
	st, err := c.Status(ctx)
	if err != nil {
		s.vaultErr = err
		s.RequeueAt(s.Now.Add(unreachableRetry))
		return nil //nolint:nilerr // as above: a vault without pods is a state to report, not a failed reconcile
	}
	s.vault = &st
	s.integrity = r.checkCheckpoint(ctx, s, c)
	r.verifyWhenDue(ctx, s, c)
	return nil
}

// checkCheckpoint takes the vault's newest signed checkpoint and proves it extends
// the recorded one. The recorded checkpoint is only ever replaced by one proven to
// extend it: a log that shrank, forked or was rewritten keeps the old record, which
// is what shows it.
func (r *Reconciler) checkCheckpoint(ctx context.Context, s *scope, c *vaultclient.Client) integrityResult {
	if s.verifierKey == "" {
		s.verifierKey = s.ev.Status.CheckpointVerifierKey
	}
	if s.verifierKey == "" {
		return integrityResult{}
	}
	signed, err := c.Checkpoint(ctx)
	if err != nil {
		s.vaultErr = err
		return integrityResult{}
	}
	newer, err := vault.OpenCheckpoint(signed, s.verifierKey)
	if err != nil {
		return integrityResult{known: true, problem: "the vault's checkpoint is not signed by the vault's checkpoint key: " + err.Error()}
	}
	recordNewer := &cybercoopv1alpha1.CheckpointStatus{Size: int64(newer.Size),
		RootHash: base64.StdEncoding.EncodeToString(newer.Root), RecordedAt: metav1.NewTime(s.Now)}
	old := s.ev.Status.Checkpoint
	if old == nil {
		old = s.adoptedCheckpoint
	}
	if old == nil {
		return integrityResult{known: true, consistent: true, record: recordNewer}
	}
	oldRoot, err := base64.StdEncoding.DecodeString(old.RootHash)
	if err != nil {
		return integrityResult{known: true, problem: "status.checkpoint.rootHash is not base64; it was edited"}
	}
	older := vault.Checkpoint{Size: uint64(old.Size), Root: oldRoot}
	switch {
	case newer.Size < older.Size:
		return integrityResult{known: true, problem: fmt.Sprintf(
			"the custody log has %d entries, fewer than the %d of the checkpoint recorded at %s: entries were removed",
			newer.Size, older.Size, old.RecordedAt.UTC().Format(time.RFC3339))}
	case newer.Size == older.Size:
		if !bytes.Equal(newer.Root, older.Root) {
			return integrityResult{known: true, problem: fmt.Sprintf(
				"the custody log's %d entries no longer hash to the root recorded at %s: the log was rewritten",
				newer.Size, old.RecordedAt.UTC().Format(time.RFC3339))}
		}
		if s.ev.Status.Checkpoint == nil {
			// The checkpoint adopted from before a Retain deletion, unchanged since:
			// it becomes this resource's record.
			return integrityResult{known: true, consistent: true, record: recordNewer}
		}
		return integrityResult{known: true, consistent: true}
	}
	hashes, err := c.Consistency(ctx, older.Size, newer.Size)
	if err != nil {
		s.vaultErr = err
		return integrityResult{}
	}
	if err := vault.VerifyConsistency(older, newer, hashes); err != nil {
		return integrityResult{known: true, problem: fmt.Sprintf(
			"the custody log of %d entries does not extend the %d entries recorded at %s (%v): the log forked or was rewritten",
			newer.Size, older.Size, old.RecordedAt.UTC().Format(time.RFC3339), err)}
	}
	return integrityResult{known: true, consistent: true, record: recordNewer}
}

func verificationInterval(ev *cybercoopv1alpha1.EvidenceVault) time.Duration {
	if v := ev.Spec.Verification; v != nil && v.Interval != nil {
		return v.Interval.Duration
	}
	return defaultVerification
}

// verifyWhenDue starts a full verification when the last one is older than the
// interval. It runs beside the reconciles (on a large store it takes long) and at
// most one at a time per vault; the vault reports its result in /status.
func (r *Reconciler) verifyWhenDue(ctx context.Context, s *scope, c *vaultclient.Client) {
	if s.vault.Fault != "" {
		return // a vault that refuses to serve cannot verify; the conditions say why
	}
	interval := verificationInterval(s.ev)
	requested := verificationRequested(s.ev, s.Now)
	if last := s.vault.LastVerification; last != nil && s.Now.Before(last.Time.Add(interval)) && !requested.After(last.Time) {
		s.RequeueAt(last.Time.Add(interval))
		return
	}
	key := types.NamespacedName{Namespace: s.ev.Namespace, Name: s.ev.Name}
	if _, running := r.verifying.LoadOrStore(key, true); running {
		return
	}
	logger := log.FromContext(ctx)
	ev := &cybercoopv1alpha1.EvidenceVault{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	go func() {
		defer r.notifyVerified(ev)
		defer r.verifying.Delete(key)
		vctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
		defer cancel()
		if _, err := c.Verify(vctx); err != nil && !vaultclient.IsStatus(err, 409) {
			logger.Error(err, "full verification of the vault failed to run")
		}
	}()
}

// verificationRequested is the time of the request in the VerifyNowAnnotation;
// zero when there is none, it does not parse, or it is in the future (beyond a
// clock skew of a minute).
func verificationRequested(ev *cybercoopv1alpha1.EvidenceVault, now time.Time) time.Time {
	v, ok := ev.Annotations[cybercoopv1alpha1.VerifyNowAnnotation]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || t.After(now.Add(time.Minute)) {
		return time.Time{}
	}
	return t
}

// notifyVerified asks for a reconcile of ev now that its full verification
// ended. Without a running controller (or with a full queue) the next poll
// reads the result instead.
func (r *Reconciler) notifyVerified(ev *cybercoopv1alpha1.EvidenceVault) {
	if r.verified == nil {
		return
	}
	select {
	case r.verified <- event.TypedGenericEvent[*cybercoopv1alpha1.EvidenceVault]{Object: ev}:
	default:
	}
}

// reconcileKeyring keeps the encryption keyring: a first key, a new active version
// every rotation interval, old versions removed once no object uses them. A version
// missing that objects may need is never replaced: that is reported and nothing is
// written.
func (r *Reconciler) reconcileKeyring(ctx context.Context, s *scope) error {
	ev := s.ev
	live, err := certs.GetSecret(ctx, r.Client, ev.Namespace, KeyringSecretName(ev))
	if err != nil {
		s.keyringErr = err
		return err
	}
	interval := defaultKeyRotation
	if k := ev.Spec.KeyRotation; k != nil && k.Interval != nil {
		interval = k.Interval.Duration
	}
	var reported []int32
	if ev.Status.Keys != nil {
		reported = ev.Status.Keys.Versions
	}
	d, err := decideKeyring(keyringInput{secret: live, reported: reported, interval: interval, vault: s.vault}, s.Now, newAESKey)
	if err != nil {
		s.keyringErr = err
		return err
	}
	s.keyring = d
	switch d.action {
	case keyringMissing, keyringInvalid:
		r.Recorder.Eventf(ev, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventKeyVersionMissing, "CheckKeyring", "Secret %s: %s",
			KeyringSecretName(ev), d.message)
		return nil
	case keyringKeep:
		d.annotations = keyringAnnotations(d.versions, d.activatedAt)
	}
	// Applied also when nothing changes: a keyring kept when an EvidenceVault of this
	// name was deleted with Retain is adopted, and no write is made when it is owned.
	desired := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: d.data}
	desired.ObjectMeta = objectMeta(ev, KeyringSecretName(ev))
	desired.Annotations = d.annotations
	if _, _, err := certs.ApplySecret(ctx, r.Client, r.Scheme, ev, live, desired); err != nil {
		s.keyringErr = err
		return err
	}
	switch d.action {
	case keyringRotate:
		r.Recorder.Eventf(ev, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventKeyRotated, "RotateKey",
			"key version %d seals new objects from now on; versions %s stay for reading", d.active, joinVersions(d.versions))
	case keyringRetire:
		r.Recorder.Eventf(ev, nil, corev1.EventTypeNormal, cybercoopv1alpha1.EventKeyRetired, "RetireKey",
			"key version(s) %s removed: the vault reports no object sealed under them", joinVersions(d.retired))
	}
	s.RequeueAt(d.activatedAt.Add(interval))
	return nil
}

// reconcileCheckpointKey keeps the key that signs the custody log's checkpoints.
// It is made once; a lost key is not replaced, because the checkpoints recorded so
// far could no longer be checked.
func (r *Reconciler) reconcileCheckpointKey(ctx context.Context, s *scope) error {
	ev := s.ev
	name := CheckpointKeySecretName(ev)
	live, err := certs.GetSecret(ctx, r.Client, ev.Namespace, name)
	if err != nil {
		return err
	}
	var skey []byte
	switch {
	case live != nil && len(live.Data[signingFile]) > 0:
		skey = live.Data[signingFile]
	case ev.Status.CheckpointVerifierKey != "":
		s.signingLost = fmt.Sprintf("Secret %s with the key that signs the custody log's checkpoints is gone or empty although "+
			"checkpoints were signed with %s; no new key is made (the recorded checkpoints could no longer be checked): "+
			"restore the Secret from a backup", name, ev.Status.CheckpointVerifierKey)
		r.Recorder.Eventf(ev, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventKeyVersionMissing, "CheckCheckpointKey", "%s", s.signingLost)
		return nil
	default:
		sk, _, err := vault.GenerateSigningKey(fmt.Sprintf("cybercoop.io/%s/%s", ev.Namespace, ev.Name))
		if err != nil {
			return fmt.Errorf("making the checkpoint signing key: %w", err)
		}
		skey = []byte(sk)
	}
	desired := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{signingFile: skey}}
	desired.ObjectMeta = objectMeta(ev, name)
	if retained := retainedCheckpoint(live); retained != "" && ev.Status.Checkpoint == nil {
		// Adopted from an EvidenceVault of this name deleted with Retain: its last
		// checkpoint is what the adopted log must extend. It stays on the Secret until
		// a checkpoint is recorded in this resource's status.
		cp, err := decodeCheckpoint(retained)
		if err != nil {
			return fmt.Errorf("the checkpoint key Secret %s: %w", name, err)
		}
		s.adoptedCheckpoint = cp
		desired.Annotations = map[string]string{RetainedCheckpointAnnotation: retained}
	}
	if _, _, err := certs.ApplySecret(ctx, r.Client, r.Scheme, ev, live, desired); err != nil {
		return err
	}
	vkey, err := vault.VerifierKeyOf(skey)
	if err != nil {
		return fmt.Errorf("the checkpoint key in Secret %s (%s) is not a signed-note signing key", name, signingFile)
	}
	s.verifierKey = vkey
	return nil
}

func retainedCheckpoint(sec *corev1.Secret) string {
	if sec == nil {
		return ""
	}
	return sec.Annotations[RetainedCheckpointAnnotation]
}
