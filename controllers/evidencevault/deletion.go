package evidencevault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// finalize runs when an EvidenceVault is deleted. Retain detaches the volume
// claim, keyring and checkpoint key (nothing owns them any more, so the garbage
// collector leaves them), and an EvidenceVault created again under the same name
// adopts them. Delete removes them, but only once the vault confirms that no object
// is under legal hold or inside its retention; until then the resource stays.
func (r *Reconciler) finalize(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault) error {
	kept := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: KeyringSecretName(ev)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: CheckpointKeySecretName(ev)}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: ClaimName(ev)}},
	}
	if ev.Spec.DeletionPolicy != cybercoopv1alpha1.DeletionDelete {
		for _, obj := range kept {
			if err := r.detach(ctx, ev, obj); err != nil {
				return err
			}
		}
		if s3 := ev.Spec.Storage.S3; s3 != nil {
			r.Recorder.Eventf(ev, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventEvidenceRetained, "RetainEvidence",
				"deletionPolicy Retain: the evidence stays in bucket %s (prefix %q) under its Object Lock; keyring Secret %s and checkpoint key Secret %s "+
					"in namespace %s are kept, detached (without the keyring the evidence cannot be read); an EvidenceVault created again under the name %s "+
					"on the same bucket and prefix adopts them and its custody log continues",
				s3.Bucket, s3.Prefix, KeyringSecretName(ev), CheckpointKeySecretName(ev), ev.Namespace, ev.Name)
			return nil
		}
		r.Recorder.Eventf(ev, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventEvidenceRetained, "RetainEvidence",
			"deletionPolicy Retain: the evidence volume claim %s, keyring Secret %s and checkpoint key Secret %s in namespace %s are kept, "+
				"detached; an EvidenceVault created again under the name %s adopts them and its custody log continues",
			ClaimName(ev), KeyringSecretName(ev), CheckpointKeySecretName(ev), ev.Namespace, ev.Name)
		return nil
	}
	if blocked := r.deletionBlocked(ctx, ev); blocked != "" {
		r.Recorder.Eventf(ev, nil, corev1.EventTypeWarning, cybercoopv1alpha1.EventDeletionBlocked, "DeleteEvidence", "%s", blocked)
		r.setDeletionBlocked(ctx, ev, blocked)
		return errors.New(blocked)
	}
	for _, obj := range kept {
		if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

// detach removes ev's owner reference from obj, so the garbage collector keeps it.
func (r *Reconciler) detach(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault, obj client.Object) error {
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	refs := obj.GetOwnerReferences()
	kept := slices.DeleteFunc(slices.Clone(refs), func(ref metav1.OwnerReference) bool { return ref.UID == ev.UID })
	if len(kept) == len(refs) {
		return nil
	}
	base := obj.DeepCopyObject().(client.Object)
	obj.SetOwnerReferences(kept)
	if cp := ev.Status.Checkpoint; cp != nil && obj.GetName() == CheckpointKeySecretName(ev) {
		// The recorded checkpoint goes with the key that signed it, so an EvidenceVault
		// created again checks that the log it adopts still extends it.
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[RetainedCheckpointAnnotation] = encodeCheckpoint(cp)
		obj.SetAnnotations(ann)
	}
	if err := r.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("detaching %s from the EvidenceVault: %w", obj.GetName(), err)
	}
	return nil
}

// deletionBlocked says why the evidence may not be deleted yet; empty when it may.
// A vault that cannot be asked blocks too: nothing is deleted on a guess.
func (r *Reconciler) deletionBlocked(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault) string {
	const cannotAsk = "deletionPolicy Delete: the vault cannot be asked whether evidence is held (%s); nothing is deleted"
	// Read only: nothing is issued or repaired for a resource being deleted.
	s := r.newScope(ev, r.now())
	if err := r.reconcileFocalPoint(ctx, s); err != nil {
		return fmt.Sprintf(cannotAsk, err)
	}
	st, err := ca.Load(ctx, r.Client, focalpoint.CARef(s.fp))
	if err != nil {
		return fmt.Sprintf(cannotAsk, err)
	}
	s.ca = st
	if s.operatorClient, err = certs.ReadLeaf(ctx, r.Client, ev.Namespace, OperatorClientSecretName(ev)); err != nil {
		return fmt.Sprintf(cannotAsk, err)
	}
	c, err := r.vaultClient(s)
	if err != nil {
		return fmt.Sprintf(cannotAsk, err)
	}
	// A vault whose log was shortened or rolled back could have lost the very holds
	// that forbid the deletion: its word counts only when its log is whole.
	switch in := r.checkCheckpoint(ctx, s, c); {
	case in.known && !in.consistent:
		return "deletionPolicy Delete: the custody log is not consistent with the recorded checkpoint (" + in.problem + "); nothing is deleted"
	case !in.known:
		why := "no checkpoint could be checked"
		if s.vaultErr != nil {
			why = s.vaultErr.Error()
		}
		return "deletionPolicy Delete: the custody log cannot be checked against the recorded checkpoint (" + why + "); nothing is deleted"
	}
	objects, err := c.Objects(ctx)
	if err != nil {
		return fmt.Sprintf(cannotAsk, err)
	}
	return heldOrRetained(objects, s.Now)
}

// heldOrRetained describes the objects that may not be deleted at now.
func heldOrRetained(objects []vault.ObjectInfo, now time.Time) string {
	var held, retained int
	var until time.Time
	for _, o := range objects {
		switch {
		case len(o.Holds) > 0 || o.OtherHolds > 0:
			held++
		case now.Before(o.RetentionUntil):
			retained++
			if o.RetentionUntil.After(until) {
				until = o.RetentionUntil
			}
		}
	}
	if held == 0 && retained == 0 {
		return ""
	}
	var why []string
	if held > 0 {
		why = append(why, fmt.Sprintf("%d object(s) under legal hold", held))
	}
	if retained > 0 {
		why = append(why, fmt.Sprintf("%d object(s) inside their retention, the last until %s", retained, until.UTC().Format(time.RFC3339)))
	}
	return "deletionPolicy Delete is waiting: " + strings.Join(why, " and ") +
		"; the evidence is deleted once every hold is released and every retention has ended, or set deletionPolicy Retain to keep it"
}

// setDeletionBlocked records in Ready why deletion waits.
func (r *Reconciler) setDeletionBlocked(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault, why string) {
	latest := &cybercoopv1alpha1.EvidenceVault{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ev.Namespace, Name: ev.Name}, latest); err != nil {
		return
	}
	base := latest.DeepCopy()
	meta.SetStatusCondition(&latest.Status.Conditions, metav1.Condition{Type: cybercoopv1alpha1.ConditionReady,
		Status: metav1.ConditionFalse, Reason: cybercoopv1alpha1.ReasonDeletionBlocked, Message: why, ObservedGeneration: latest.Generation})
	if err := r.Status().Patch(ctx, latest, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return
	}
}

func (r *Reconciler) now() time.Time {
	if r.Clock != nil {
		return r.Clock.Now()
	}
	return time.Now()
}

// RetainedCheckpointAnnotation on a retained checkpoint key Secret holds the last
// checkpoint the deleted EvidenceVault recorded, as "size root recordedAt".
const RetainedCheckpointAnnotation = "cybercoop.io/retained-checkpoint"

func encodeCheckpoint(cp *cybercoopv1alpha1.CheckpointStatus) string {
	return fmt.Sprintf("%d %s %s", cp.Size, cp.RootHash, cp.RecordedAt.UTC().Format(time.RFC3339))
}

func decodeCheckpoint(s string) (*cybercoopv1alpha1.CheckpointStatus, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return nil, fmt.Errorf("annotation %s: expected size, root hash and time", RetainedCheckpointAnnotation)
	}
	var size int64
	if _, err := fmt.Sscan(f[0], &size); err != nil || size < 0 {
		return nil, fmt.Errorf("annotation %s: the size is not a number", RetainedCheckpointAnnotation)
	}
	at, err := time.Parse(time.RFC3339, f[2])
	if err != nil {
		return nil, fmt.Errorf("annotation %s: the time is not RFC 3339", RetainedCheckpointAnnotation)
	}
	return &cybercoopv1alpha1.CheckpointStatus{Size: size, RootHash: f[1], RecordedAt: metav1.NewTime(at)}, nil
}
