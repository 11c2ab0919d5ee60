package evidencevault

import (
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// computeStatus writes the EvidenceVault's status from what the phases found. It
// does no I/O. What only the vault can say is Unknown while it cannot be reached;
// the last counts it reported are kept, and the conditions say they are not current.
func computeStatus(s *scope, reconcileErr error) {
	ev, now := s.ev, s.Now
	st := &ev.Status
	s.RequeueAt(certs.NextCheck(&s.certs, now))

	st.Endpoint = fmt.Sprintf("https://%s:%d", ServiceHost(ev), APIPort)
	if s.certs.Observed {
		st.Certificates = certificatesStatus(&s.certs)
	}
	if s.verifierKey != "" {
		st.CheckpointVerifierKey = s.verifierKey
	}
	if s.integrity.record != nil {
		st.Checkpoint = s.integrity.record
	}
	st.Storage = storageStatus(s)
	// A vault refusing its bucket reports no inventory; the last one is kept.
	if v := s.vault; v != nil && !v.StorageFault {
		objects, bytes, held, past := int64(v.Objects), v.Bytes, int64(v.Held), int64(v.PastRetention)
		st.Objects, st.Bytes, st.Held, st.PastRetention = &objects, &bytes, &held, &past
		st.Size = humanBytes(bytes)
		if lv := v.LastVerification; lv != nil {
			result := "Passed"
			if !lv.OK {
				result = "Failed"
			}
			// The vault's message about the findings is not copied: it may name cases
			// and references, which have no place in a resource many people can read.
			st.LastVerification = &cybercoopv1alpha1.VerificationStatus{Time: metav1.NewTime(lv.Time.Truncate(time.Second)), Result: result,
				Objects: int64(lv.Objects), Findings: int32(lv.Findings)}
		}
	}
	st.Keys = keysStatus(s)

	certCond := certificateCondition(s, now)
	keysCond := keysCondition(s)
	storageCond := storageCondition(s)
	integrityCond := integrityCondition(s)
	if reconcileErr == nil {
		st.ObservedGeneration = ev.Generation
	}
	ready := reconciler.ReadyCondition(s.ProvisionErr(), "the evidence store is provisioned, its keys and certificates are valid and its custody log verified",
		certCond, keysCond, storageCond, integrityCond)
	var noFP errNoFocalPoint
	if errors.As(reconcileErr, &noFP) {
		ready = metav1.Condition{Type: cybercoopv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: cybercoopv1alpha1.ReasonFocalPointNotFound, Message: noFP.Error()}
	}
	reconciler.SetConditions(&st.Conditions, ev.Generation, certCond, keysCond, storageCond, integrityCond, ready)
}

func certificateCondition(s *scope, now time.Time) metav1.Condition {
	if s.fp == nil {
		return metav1.Condition{Type: cybercoopv1alpha1.ConditionCertificateReady, Status: metav1.ConditionFalse,
			Reason: cybercoopv1alpha1.ReasonFocalPointNotFound, Message: errNoFocalPoint{s.ev.Spec.FocalPointRef.Name}.Error()}
	}
	return certs.ReadyCondition(&s.certs, now)
}

func keysStatus(s *scope) *cybercoopv1alpha1.VaultKeysStatus {
	prev := s.ev.Status.Keys
	d := s.keyring
	if d.active == 0 {
		return prev // the keyring was not read, or is missing or invalid: keep what was last seen
	}
	out := &cybercoopv1alpha1.VaultKeysStatus{ActiveVersion: d.active, Versions: slices.Clone(d.versions)}
	interval := defaultKeyRotation
	if k := s.ev.Spec.KeyRotation; k != nil && k.Interval != nil {
		interval = k.Interval.Duration
	}
	next := metav1.NewTime(d.activatedAt.Add(interval))
	out.NextRotation = &next
	switch {
	case s.vault != nil:
		for v, n := range s.vault.KeyVersionsInUse {
			if n > 0 {
				out.VersionsInUse = append(out.VersionsInUse, int32(v))
			}
		}
		slices.Sort(out.VersionsInUse)
	case prev != nil:
		out.VersionsInUse = prev.VersionsInUse
	}
	return out
}

func keysCondition(s *scope) metav1.Condition {
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		return reconciler.NewCondition(cybercoopv1alpha1.ConditionKeysReady, status, reason, format, args...)
	}
	d := s.keyring
	switch {
	case s.signingLost != "":
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonCheckpointKeyLost, "%s", s.signingLost)
	case d.action == keyringMissing:
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonKeyVersionMissing, "Secret %s: %s", KeyringSecretName(s.ev), d.message)
	case d.action == keyringInvalid:
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonKeyringInvalid, "Secret %s: %s", KeyringSecretName(s.ev), d.message)
	case s.keyringErr != nil:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the keyring could not be checked: %v", s.keyringErr)
	case d.active == 0:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the keyring has not been created yet")
	}
	return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonKeyringValid, "key version %d seals new objects (versions %s in Secret %s)",
		d.active, joinVersions(d.versions), KeyringSecretName(s.ev))
}

func storageCondition(s *scope) metav1.Condition {
	if s.ev.Spec.Storage.S3 != nil {
		return s3StorageCondition(s)
	}
	cond := metav1.Condition{Type: cybercoopv1alpha1.ConditionStorageBound}
	c := s.claim
	switch {
	case c == nil:
		cond.Status, cond.Reason = metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling
		cond.Message = fmt.Sprintf("the volume claim %s has not been created yet (the StatefulSet makes it)", ClaimName(s.ev))
	case c.Status.Phase == corev1.ClaimBound:
		capacity := c.Status.Capacity[corev1.ResourceStorage]
		cond.Status, cond.Reason = metav1.ConditionTrue, cybercoopv1alpha1.ReasonVolumeBound
		cond.Message = fmt.Sprintf("volume claim %s is bound to volume %s (%s)", c.Name, c.Spec.VolumeName, capacity.String())
	default:
		phase := c.Status.Phase
		if phase == "" {
			phase = corev1.ClaimPending
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, cybercoopv1alpha1.ReasonVolumePending
		cond.Message = fmt.Sprintf("volume claim %s is %s: no volume is bound to it yet; check its events and the storage class", c.Name, phase)
	}
	return cond
}

func integrityCondition(s *scope) metav1.Condition {
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		return reconciler.NewCondition(cybercoopv1alpha1.ConditionIntegrityVerified, status, reason, format, args...)
	}
	v, in := s.vault, s.integrity
	switch {
	case in.known && !in.consistent:
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonLogInconsistent, "%s; the recorded checkpoint is kept", in.problem)
	case v == nil:
		why := "not reached yet"
		if s.vaultErr != nil {
			why = s.vaultErr.Error()
		}
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonVaultUnreachable, "the vault's API could not be asked: %s", why)
	case v.StorageFault:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonBucketUnprotected, "the vault refuses to serve until its storage is usable (see StorageBound)")
	case v.Fault != "":
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonLogInconsistent, "the vault refuses to serve: %s", v.Fault)
	case !in.known:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the custody log's checkpoint has not been checked yet")
	case v.LastVerification == nil:
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling,
			"the custody log (%d entries) extends the recorded checkpoint; the first full verification is running", v.CustodyEntries)
	case !v.LastVerification.OK:
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonVerificationFailed,
			"the full verification of %s found %d problem(s); run `cybercoop vault verify` on the data directory for the findings",
			v.LastVerification.Time.UTC().Format(time.RFC3339), v.LastVerification.Findings)
	}
	return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonLogConsistent,
		"the custody log (%d entries) extends the recorded checkpoint; the full verification of %s found nothing wrong",
		v.CustodyEntries, v.LastVerification.Time.UTC().Format(time.RFC3339))
}

// humanBytes is a size for people in binary units, e.g. "1.2 GiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
